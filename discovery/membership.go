package discovery

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Source says where a member came from.
type Source string

// The sources of a pool's members.
const (
	SourceStatic    Source = "static"
	SourceZooKeeper Source = "zookeeper"
	SourceHTTP      Source = "http"
)

// Member is a server in a pool's current membership and where it came from.
type Member struct {
	Server
	Source Source
}

// Snapshot is a pool's membership at one moment.
type Snapshot struct {
	Pool    string
	Members []Member
	// LastSync is the time of the last successful ZooKeeper sync (zero if
	// none yet, or the pool has no serverset).
	LastSync time.Time
}

// Servers returns the members' servers, in membership order.
func (s Snapshot) Servers() []Server {
	out := make([]Server, len(s.Members))
	for i, m := range s.Members {
		out[i] = m.Server
	}
	return out
}

// MembershipConfig configures a pool's Membership.
type MembershipConfig struct {
	Pool string
	// Static servers, in config order: the membership until the first
	// successful ZooKeeper sync (and for pools without a serverset, always).
	Static []Server
	// OnChange is called with every new membership, from one goroutine at a
	// time and in the order of the changes, never while a Membership lock is
	// held. It must not block for long and must not call Stop.
	OnChange func(Snapshot)
	// PoolConfig carries the policy: Debounce, RemoveDelay and EmptyHold
	// (the other fields are the watcher's). The zero value applies every
	// serverset update at once.
	PoolConfig
	// Metrics, if set, receives members per source and rebuild counts.
	Metrics *Metrics
}

// Membership combines a pool's sources: static servers, the ZooKeeper
// serverset (once synced), and the HTTP add/purge overlay, which is
// re-applied after every rebuild. It is safe for concurrent use.
//
// The order of members is deterministic, because ring algorithms such as
// jump_fnv1a_ch depend on it: the serverset part (which replaces the static
// part after the first sync, never merged with it) is sorted by instance
// (numerically when both are integers, so shard 2 < shard 10), then host,
// then port; static servers keep config order; HTTP additions follow in the
// order they were added. A server is listed once, by its first source.
//
// Policy for serverset updates (spec W3/W4, O1/O2):
//   - The first sync is applied at once (static -> serverset), subject only
//     to EmptyHold.
//   - Later changes are coalesced: the first change after a rebuild starts a
//     Debounce timer, and when it fires everything seen meanwhile is applied
//     in one rebuild. An unchanged set causes no rebuild and no OnChange.
//   - A member that left the serverset stays for RemoveDelay (limbo) and is
//     kept if it returns meanwhile, unless a current member has its address
//     or instance (it re-registered); additions are never delayed beyond
//     the debounce.
//   - An update that would leave the serverset part empty is held until the
//     serverset has been empty for EmptyHold.
//   - While ZooKeeper is unreachable nothing calls SetZooKeeper, so the last
//     applied (last known good) membership stays.
//
// HTTP Add and Purge apply at once.
type Membership struct {
	cfg MembershipConfig
	met *membershipMetrics

	notify sync.Mutex // serialises rebuilds and OnChange calls, in order

	mu         sync.Mutex
	zk         []Server // applied serverset part; nil until first applied
	lastSync   time.Time
	desired    []Server // latest serverset sync; nil until the first
	goneSince  map[string]time.Time
	emptySince time.Time
	timer      *time.Timer // pending debounce/limbo/hold evaluation
	timerAt    time.Time
	timerGen   uint64 // identifies the pending timer's callback
	stopped    bool
	added      []Server
	purged     map[string]bool // by Server.ID()
	version    uint64
}

// NewMembership returns a Membership on its static servers.
func NewMembership(cfg MembershipConfig) *Membership {
	m := &Membership{cfg: cfg, purged: map[string]bool{}, goneSince: map[string]time.Time{}}
	if cfg.Metrics != nil {
		m.met = cfg.Metrics.membership(cfg.Pool)
		m.met.observe(m.snapshotLocked())
	}
	return m
}

// Snapshot returns the current membership.
func (m *Membership) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snapshotLocked()
}

func (m *Membership) snapshotLocked() Snapshot {
	snap := Snapshot{Pool: m.cfg.Pool, LastSync: m.lastSync}
	seen := map[string]bool{}
	add := func(s Server, src Source) {
		id := s.ID()
		if seen[id] || m.purged[id] {
			return
		}
		seen[id] = true
		snap.Members = append(snap.Members, Member{Server: s, Source: src})
	}
	if m.zk != nil {
		for _, s := range m.zk {
			add(s, SourceZooKeeper)
		}
	} else {
		for _, s := range m.cfg.Static {
			add(s, SourceStatic)
		}
	}
	for _, s := range m.added {
		add(s, SourceHTTP)
	}
	return snap
}

// Add puts s into the HTTP overlay (and takes it off the purge list). It
// applies at once.
func (m *Membership) Add(s Server) {
	m.update(func() bool {
		delete(m.purged, s.ID())
		if !slices.ContainsFunc(m.added, func(a Server) bool { return a.ID() == s.ID() }) {
			m.added = append(m.added, s)
		}
		return true
	})
}

// Purge removes s from the membership whatever its source, until it is
// added again over HTTP. It applies at once and survives serverset rebuilds.
func (m *Membership) Purge(s Server) {
	m.update(func() bool {
		m.purged[s.ID()] = true
		m.added = slices.DeleteFunc(m.added, func(a Server) bool { return a.ID() == s.ID() })
		return true
	})
}

// SetZooKeeper records the serverset's members after a successful sync at
// time at; the policy decides when they are applied. Servers are sorted
// (see Membership) and deduplicated by ID.
func (m *Membership) SetZooKeeper(servers []Server, at time.Time) {
	desired := SortServers(servers)
	m.update(func() bool {
		m.lastSync = at
		if m.stopped {
			return false
		}
		now := time.Now()
		changed := m.desired == nil || !sameServers(desired, m.desired)
		m.desired = desired
		if !changed {
			return false
		}
		if len(desired) == 0 {
			if m.emptySince.IsZero() {
				m.emptySince = now
			}
		} else {
			m.emptySince = time.Time{}
		}
		in := make(map[string]bool, len(desired))
		for _, s := range desired {
			in[s.ID()] = true
			delete(m.goneSince, s.ID())
		}
		for _, s := range m.zk {
			if !in[s.ID()] {
				if _, ok := m.goneSince[s.ID()]; !ok {
					m.goneSince[s.ID()] = now
				}
			}
		}
		if m.zk == nil || m.cfg.Debounce.Duration <= 0 {
			return m.evaluateLocked(now)
		}
		m.scheduleLocked(now.Add(m.cfg.Debounce.Duration))
		return false
	})
}

// Stop cancels pending serverset updates and waits for a rebuild in
// progress; later timers never fire. Add, Purge and SetZooKeeper's LastSync
// still work after Stop. It is idempotent.
func (m *Membership) Stop() {
	m.mu.Lock()
	m.stopped = true
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	m.mu.Unlock()
	m.notify.Lock()
	defer m.notify.Unlock()
}

// scheduleLocked makes sure an evaluation runs no later than at (an earlier
// pending one is kept: it re-schedules what is still due).
func (m *Membership) scheduleLocked(at time.Time) {
	if m.stopped {
		return
	}
	if m.timer != nil && !m.timerAt.After(at) {
		return
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timerAt = at
	m.timerGen++
	gen := m.timerGen
	m.timer = time.AfterFunc(time.Until(at), func() { m.fire(gen) })
}

func (m *Membership) fire(gen uint64) {
	m.update(func() bool {
		if m.timerGen != gen || m.timer == nil || m.stopped {
			return false // superseded or stopped
		}
		m.timer = nil
		return m.evaluateLocked(time.Now())
	})
}

// evaluateLocked computes the serverset part due at now, applies it if it
// differs from the applied one, and schedules the next limbo/hold deadline.
func (m *Membership) evaluateLocked(now time.Time) bool {
	var next time.Time
	due := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	// A leaver whose address or instance a current member has is not kept
	// in limbo: it re-registered (the watcher's rule: the newest
	// registration of an address or instance wins), and keeping both would
	// put one backend on the ring twice.
	type addr struct {
		host string
		port int
	}
	in := make(map[string]bool, len(m.desired))
	addrs := make(map[addr]bool, len(m.desired))
	instances := make(map[string]bool, len(m.desired))
	for _, s := range m.desired {
		in[s.ID()] = true
		addrs[addr{s.Host, s.Port}] = true
		if s.Instance != "" {
			instances[s.Instance] = true
		}
	}
	nz := append(make([]Server, 0, len(m.desired)), m.desired...)
	for _, s := range m.zk {
		if in[s.ID()] {
			continue
		}
		replaced := addrs[addr{s.Host, s.Port}] || (s.Instance != "" && instances[s.Instance])
		since, ok := m.goneSince[s.ID()]
		if ok && !replaced && m.cfg.RemoveDelay.Duration > 0 && now.Sub(since) < m.cfg.RemoveDelay.Duration {
			nz = append(nz, s) // in limbo
			due(since.Add(m.cfg.RemoveDelay.Duration))
			continue
		}
		delete(m.goneSince, s.ID())
	}
	nz = SortServers(nz)
	current := m.zk
	if current == nil {
		current = m.cfg.Static
	}
	if len(nz) == 0 && len(current) > 0 && m.cfg.EmptyHold.Duration > 0 {
		if until := m.emptySince.Add(m.cfg.EmptyHold.Duration); now.Before(until) {
			due(until)
			if !next.IsZero() {
				m.scheduleLocked(next)
			}
			return false
		}
	}
	if !next.IsZero() {
		m.scheduleLocked(next)
	}
	if m.zk != nil && sameServers(nz, m.zk) {
		return false
	}
	m.zk = nz
	return true
}

// update runs f under the locks and, if it reports a change, publishes the
// new snapshot to OnChange while still holding notify (so calls are
// serialised and ordered) but not mu.
func (m *Membership) update(f func() bool) {
	m.notify.Lock()
	defer m.notify.Unlock()
	m.mu.Lock()
	if !f() {
		m.mu.Unlock()
		return
	}
	m.version++
	snap := m.snapshotLocked()
	m.mu.Unlock()
	if m.met != nil {
		m.met.rebuilds.Inc()
		m.met.observe(snap)
	}
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(snap)
	}
}

func sameServers(a, b []Server) bool {
	// Field equality is ID equality, without building the strings.
	return slices.EqualFunc(a, b, func(x, y Server) bool {
		return x.Proto == y.Proto && x.Host == y.Host && x.Port == y.Port && x.Instance == y.Instance
	})
}

// SortServers returns a sorted copy of servers without duplicate IDs, in
// the order a pool lists serverset members: by instance (numerically when
// both are integers), then host, then port.
func SortServers(servers []Server) []Server {
	out := make([]Server, 0, len(servers))
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		if !seen[s.ID()] {
			seen[s.ID()] = true
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, compareServers)
	return out
}

func compareServers(a, b Server) int {
	if a.Instance != b.Instance {
		ai, aerr := strconv.ParseInt(a.Instance, 10, 64)
		bi, berr := strconv.ParseInt(b.Instance, 10, 64)
		if aerr == nil && berr == nil && ai != bi {
			return cmp.Compare(ai, bi)
		}
		return cmp.Compare(a.Instance, b.Instance)
	}
	if c := cmp.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	return cmp.Compare(a.ID(), b.ID())
}
