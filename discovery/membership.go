package discovery

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Source says where a member came from.
type Source string

// The sources of a pool's members.
const (
	SourceStatic    Source = "static"
	SourceZooKeeper Source = "zookeeper"
	SourceHTTP      Source = "http"
	// SourceCache is a serverset member from MembershipConfig.Seed (the
	// last-known-good membership saved on disk), until the first sync.
	SourceCache Source = "zookeeper_cache"
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
	// SeedAt is MembershipConfig.SeedAt while the serverset part still
	// comes from the seed (members with Source SourceCache), else zero.
	SeedAt time.Time
	// Reason says why there are no members ("" when there are): the
	// serverset does not exist, is empty or has no usable member, every
	// member was purged over HTTP, ...
	Reason string
}

// OverlayEntry is one server of the HTTP overlay and when it was added or
// purged.
type OverlayEntry struct {
	Server Server
	At     time.Time
}

// Overlay is the HTTP add/purge overlay of a Membership: what an operator
// changed by hand, re-applied after every rebuild until cleared.
type Overlay struct {
	// Added are the servers added over HTTP, in the order they were added.
	Added []OverlayEntry
	// Purged are the servers purged over HTTP, oldest purge first.
	Purged []OverlayEntry
}

// SyncInfo is what a serverset sync saw besides its usable members, so that
// an empty serverset can be explained.
type SyncInfo struct {
	// Missing: the serverset path does not exist.
	Missing bool
	// Skipped counts member znodes that were not usable (not ALIVE,
	// another shard, bad data, ...).
	Skipped int
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
	// successful ZooKeeper sync (and for pools without a serverset, always),
	// unless there is a Seed.
	Static []Server
	// Seed is a last-known-good serverset part (see StateStore.Load) to
	// start with instead of Static: its members are listed with Source
	// SourceCache until the first sync, which replaces them at once (no
	// Debounce, no RemoveDelay) subject only to EmptyHold. Empty means no
	// seed. SeedAt is when it was saved (shown as Snapshot.SeedAt).
	Seed   []Server
	SeedAt time.Time
	// Store, if set, receives the applied serverset part after every change
	// that came from a sync, saved for the pool and PoolConfig.Serverset (see
	// LastSaveError). Seeds and static servers are never saved.
	Store *StateStore
	// OnChange is called with every new membership, from one goroutine at a
	// time and in the order of the changes, never while a Membership lock is
	// held. It must not block for long and must not call Stop.
	OnChange func(Snapshot)
	// PoolConfig carries the policy: Debounce, RemoveDelay and EmptyHold
	// (the other fields are the watcher's; Serverset also names what Store
	// saves). The zero value applies every serverset update at once.
	PoolConfig
	// Metrics, if set, receives members per source and rebuild counts.
	Metrics *Metrics
	// Logger, if set, receives the warnings of an emptying serverset (when
	// EmptyHold starts holding it, and when the pool is emptied).
	Logger *zap.Logger
	// VirtualShards keeps a server that Static lists more than once as that
	// many members, in config order: a statsrelay shard map, where entry i
	// is shard i and a backend listed k times owns k shards. Without it a
	// server is listed once, by its first entry. A purge removes every
	// entry of the server.
	VirtualShards bool
}

// Membership combines a pool's sources: static servers, the ZooKeeper
// serverset (once synced), and the HTTP add/purge overlay, which is
// re-applied after every rebuild. It is safe for concurrent use.
//
// The order of members is deterministic, because ring algorithms such as
// jump_fnv1a_ch depend on it: the serverset part (which replaces the static
// part, or the seed, after the first sync, never merged with it) is in
// SortServers order; static servers keep config order; HTTP additions
// follow in the order they were added. A server is listed once, by its
// first source.
//
// Policy for serverset updates (spec W3/W4, O1/O2):
//   - The first sync is applied at once (static or seed -> serverset),
//     subject only to EmptyHold.
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
//     applied (last known good) membership stays; with a Store it also
//     survives a restart, as the next Membership's Seed.
//
// HTTP Add and Purge apply at once. Reconfigure replaces the static servers
// and the policy of a live Membership.
type Membership struct {
	cfg    MembershipConfig
	met    *membershipMetrics
	synced chan struct{} // closed after the first SetZooKeeper
	once   sync.Once     // closes synced

	notify  sync.Mutex // serialises rebuilds, OnChange calls and saves, in order
	saved   []Server   // serverset part last saved to Store
	didSave bool

	mu         sync.Mutex
	zk         []Server // applied serverset part (or the seed); nil until first applied
	seeded     bool     // zk is cfg.Seed, not yet replaced by a sync
	saveErr    error    // of the last save to Store
	lastSync   time.Time
	desired    []Server // latest serverset sync; nil until the first
	goneSince  map[string]time.Time
	emptySince time.Time
	timer      *time.Timer // pending debounce/limbo/hold evaluation
	timerAt    time.Time
	timerGen   uint64 // identifies the pending timer's callback
	stopped    bool
	added      []OverlayEntry
	purged     map[string]OverlayEntry // by Server.ID()
	lastInfo   SyncInfo                // of the latest sync
	version    uint64
	// logs are log calls made under mu, run by update after it unlocks.
	logs []func()
}

// NewMembership returns a Membership on its seed, or on its static servers
// when the seed is empty.
func NewMembership(cfg MembershipConfig) *Membership {
	m := &Membership{cfg: cfg, purged: map[string]OverlayEntry{}, goneSince: map[string]time.Time{}, synced: make(chan struct{})}
	m.cfg.Static = slices.Clone(cfg.Static)
	if m.cfg.Logger == nil {
		m.cfg.Logger = zap.NewNop()
	}
	if len(cfg.Seed) > 0 {
		m.zk, m.seeded = SortServers(cfg.Seed), true
	}
	if cfg.Metrics != nil {
		m.met = cfg.Metrics.membership(cfg.Pool)
		m.met.observe(m.snapshotLocked())
	}
	return m
}

// Synced returns a channel that is closed once the first SetZooKeeper call
// has returned: that sync is recorded (Snapshot.LastSync) and, if the
// policy applied it at once, published to OnChange. It is closed whatever
// the policy decided (an empty first sync may still be held by EmptyHold)
// and never closes for a pool without a serverset. Any goroutine may call
// it, any number of times; every call returns the same channel.
func (m *Membership) Synced() <-chan struct{} { return m.synced }

// LastSaveError returns the error of the last attempt to save the serverset
// part to MembershipConfig.Store, nil after a successful one (or none). A
// failed save is retried at the next update of the Membership (every sync),
// until one succeeds; it never holds up a rebuild for longer than the write.
func (m *Membership) LastSaveError() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saveErr
}

// Snapshot returns the current membership.
func (m *Membership) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snapshotLocked()
}

func (m *Membership) snapshotLocked() Snapshot {
	snap := Snapshot{Pool: m.cfg.Pool, LastSync: m.lastSync}
	if m.seeded {
		snap.SeedAt = m.cfg.SeedAt
	}
	seen := map[string]bool{}
	add := func(s Server, src Source, repeat bool) {
		id := s.ID()
		if _, purged := m.purged[id]; (seen[id] && !repeat) || purged {
			return
		}
		seen[id] = true
		snap.Members = append(snap.Members, Member{Server: s, Source: src})
	}
	if m.zk != nil {
		src := SourceZooKeeper
		if m.seeded {
			src = SourceCache
		}
		for _, s := range m.zk {
			add(s, src, false)
		}
	} else {
		for _, s := range m.cfg.Static {
			add(s, SourceStatic, m.cfg.VirtualShards)
		}
	}
	for _, e := range m.added {
		add(e.Server, SourceHTTP, false)
	}
	if len(snap.Members) == 0 {
		snap.Reason = m.emptyReasonLocked()
	}
	return snap
}

// baseLocked is the membership before the HTTP overlay: the serverset part
// once applied (or the seed), else the static servers.
func (m *Membership) baseLocked() []Server {
	if m.zk != nil {
		return m.zk
	}
	return m.cfg.Static
}

// emptyReasonLocked says why the membership has no members.
func (m *Membership) emptyReasonLocked() string {
	switch {
	case len(m.baseLocked()) > 0:
		return "every member was purged over HTTP (DELETE /POOL/overlay undoes it)"
	case m.zk != nil:
		return m.serversetEmptyLocked()
	case m.cfg.Serverset != "":
		return fmt.Sprintf("no static servers, and serverset %q has not synced yet", m.cfg.Serverset)
	}
	return "no servers"
}

// serversetEmptyLocked says why the latest sync found no usable member.
func (m *Membership) serversetEmptyLocked() string {
	switch {
	case m.lastInfo.Missing:
		return fmt.Sprintf("serverset %q does not exist", m.cfg.Serverset)
	case m.lastInfo.Skipped > 0:
		return fmt.Sprintf("serverset %q has no usable member (%d skipped: not ALIVE, another shard, or bad data)", m.cfg.Serverset, m.lastInfo.Skipped)
	}
	return fmt.Sprintf("serverset %q has no members", m.cfg.Serverset)
}

// Add puts s into the HTTP overlay and takes it off the purge list. It
// applies at once. Adding a purged server that its own source (static or
// serverset) still lists only undoes the purge: it is not pinned in the
// overlay, so it leaves when it leaves its source.
func (m *Membership) Add(s Server) {
	m.update(func() bool {
		id := s.ID()
		_, wasPurged := m.purged[id]
		delete(m.purged, id)
		if wasPurged && slices.ContainsFunc(m.baseLocked(), func(b Server) bool { return b.ID() == id }) {
			return true
		}
		if !slices.ContainsFunc(m.added, func(a OverlayEntry) bool { return a.Server.ID() == id }) {
			m.added = append(m.added, OverlayEntry{Server: s, At: time.Now()})
		}
		return true
	})
}

// Purge removes s from the membership whatever its source, until it is
// added again over HTTP or the overlay is cleared. It applies at once and
// survives serverset rebuilds.
func (m *Membership) Purge(s Server) {
	m.update(func() bool {
		m.purged[s.ID()] = OverlayEntry{Server: s, At: time.Now()}
		m.added = slices.DeleteFunc(m.added, func(a OverlayEntry) bool { return a.Server.ID() == s.ID() })
		return true
	})
}

// Overlay returns the HTTP overlay: what was added and purged, and when.
func (m *Membership) Overlay() Overlay {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.overlayLocked()
}

func (m *Membership) overlayLocked() Overlay {
	o := Overlay{Added: slices.Clone(m.added)}
	for _, e := range m.purged {
		o.Purged = append(o.Purged, e)
	}
	slices.SortFunc(o.Purged, func(a, b OverlayEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Server.ID(), b.Server.ID())
	})
	return o
}

// ClearOverlay drops every HTTP addition and purge, so the membership is
// its static servers or serverset again, and returns what it dropped. It
// applies at once.
func (m *Membership) ClearOverlay() Overlay {
	var dropped Overlay
	m.update(func() bool {
		dropped = m.overlayLocked()
		m.added = nil
		clear(m.purged)
		return len(dropped.Added)+len(dropped.Purged) > 0
	})
	return dropped
}

// SetZooKeeper records the serverset's members after a successful sync at
// time at; the policy decides when they are applied. Servers are sorted
// (see Membership) and deduplicated by ID. It closes Synced's channel.
func (m *Membership) SetZooKeeper(servers []Server, at time.Time) {
	m.SyncZooKeeper(servers, at, SyncInfo{})
}

// SyncZooKeeper is SetZooKeeper with what the sync saw besides its usable
// members, which explains an empty serverset in logs and Snapshot.Reason.
func (m *Membership) SyncZooKeeper(servers []Server, at time.Time, info SyncInfo) {
	defer m.once.Do(func() { close(m.synced) })
	desired := SortServers(servers)
	m.update(func() bool {
		m.lastSync, m.lastInfo = at, info
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
				m.logHoldLocked()
			}
		} else {
			m.emptySince = time.Time{}
		}
		in := make(map[string]bool, len(desired))
		for _, s := range desired {
			in[s.ID()] = true
			delete(m.goneSince, s.ID())
		}
		for _, s := range m.appliedLocked() {
			if !in[s.ID()] {
				if _, ok := m.goneSince[s.ID()]; !ok {
					m.goneSince[s.ID()] = now
				}
			}
		}
		if m.zk == nil || m.seeded || m.cfg.Debounce.Duration <= 0 {
			return m.evaluateLocked(now)
		}
		m.scheduleLocked(now.Add(m.cfg.Debounce.Duration))
		return false
	})
}

// Reconfigure replaces the static servers (kept in the given order) and the
// policy (Debounce, RemoveDelay and EmptyHold of policy; its other fields
// are ignored) of a live Membership. The HTTP overlay, the applied
// serverset part or seed, and pending updates are kept: a pending
// evaluation keeps its deadline, and the new policy applies to every
// decision from then on. OnChange gets the new snapshot only if it differs
// (e.g. the pool runs on its static servers and they changed). It is safe
// to call at any time, also after Stop.
func (m *Membership) Reconfigure(static []Server, policy PoolConfig) {
	static = slices.Clone(static)
	m.update(func() bool {
		before := m.snapshotLocked().Members
		m.cfg.Static = static
		m.cfg.Debounce, m.cfg.RemoveDelay, m.cfg.EmptyHold = policy.Debounce, policy.RemoveDelay, policy.EmptyHold
		return !slices.Equal(before, m.snapshotLocked().Members)
	})
}

// Stop cancels pending serverset updates and waits for a rebuild (or save)
// in progress; later timers never fire and nothing more is saved. Add,
// Purge, Reconfigure and SetZooKeeper's LastSync still work after Stop. It
// is idempotent.
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
	// put one backend on the ring twice. With instance_from = "shard" the
	// shard alone is the identity (one address may own several shards), so
	// only a member with the leaver's shard replaces it.
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
	for _, s := range m.appliedLocked() {
		if in[s.ID()] {
			continue
		}
		replaced := (m.cfg.InstanceFrom != "shard" && addrs[addr{s.Host, s.Port}]) || (s.Instance != "" && instances[s.Instance])
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
	if m.zk != nil && !m.seeded && sameServers(nz, m.zk) {
		return false
	}
	if len(nz) == 0 && len(current) > 0 {
		m.logEmptiedLocked(len(current))
	}
	m.zk, m.seeded = nz, false
	return true
}

// logHoldLocked warns, when a sync first finds the serverset empty, that
// EmptyHold keeps the current members for now (nothing to hold: no log).
func (m *Membership) logHoldLocked() {
	current := m.baseLocked()
	if len(current) == 0 || m.cfg.EmptyHold.Duration <= 0 {
		return
	}
	why, hold, n := m.serversetEmptyLocked(), m.cfg.EmptyHold.Duration, len(current)
	m.logs = append(m.logs, func() {
		m.cfg.Logger.Warn("serverset is empty; keeping the current members while empty_hold lasts",
			zap.String("serverset", m.cfg.Serverset), zap.String("reason", why),
			zap.Duration("empty_hold", hold), zap.Int("members", n))
	})
}

// logEmptiedLocked reports, as an error, an empty serverset applied to the
// ring: the pool loses its n serverset (or static) members.
func (m *Membership) logEmptiedLocked(n int) {
	why, hold := m.serversetEmptyLocked(), m.cfg.EmptyHold.Duration
	m.logs = append(m.logs, func() {
		m.cfg.Logger.Error("serverset is empty and empty_hold is over; the pool lost its members",
			zap.String("serverset", m.cfg.Serverset), zap.String("reason", why),
			zap.Duration("empty_hold", hold), zap.Int("members_removed", n))
	})
}

// appliedLocked is the serverset part applied by syncs: nil before the
// first, and while the seed stands in (its members are not kept in limbo).
func (m *Membership) appliedLocked() []Server {
	if m.seeded {
		return nil
	}
	return m.zk
}

// update runs f under the locks and, if it reports a change, publishes the
// new snapshot to OnChange while still holding notify (so calls are
// serialised and ordered) but not mu. Then, still under notify, it saves
// the applied serverset part if it differs from the last one saved.
func (m *Membership) update(f func() bool) {
	m.notify.Lock()
	defer m.notify.Unlock()
	m.mu.Lock()
	changed := f()
	var snap Snapshot
	if changed {
		m.version++
		snap = m.snapshotLocked()
	}
	save := m.cfg.Store != nil && !m.stopped && m.appliedLocked() != nil &&
		!(m.didSave && sameServers(m.zk, m.saved))
	applied := m.zk // never modified in place
	logs := m.logs
	m.logs = nil
	m.mu.Unlock()
	for _, log := range logs {
		log()
	}
	if changed {
		if m.met != nil {
			m.met.rebuilds.Inc()
			m.met.observe(snap)
		}
		if m.cfg.OnChange != nil {
			m.cfg.OnChange(snap)
		}
	}
	if save {
		m.save(applied)
	}
}

// save writes the applied serverset part to the store; called under notify.
func (m *Membership) save(servers []Server) {
	err := m.cfg.Store.Save(m.cfg.Pool, m.cfg.Serverset, servers, time.Now())
	if err == nil {
		m.saved, m.didSave = servers, true
	}
	m.mu.Lock()
	m.saveErr = err
	m.mu.Unlock()
}

func sameServers(a, b []Server) bool {
	// Field equality is ID equality, without building the strings.
	return slices.EqualFunc(a, b, func(x, y Server) bool {
		return x.Proto == y.Proto && x.Host == y.Host && x.Port == y.Port && x.Instance == y.Instance
	})
}

// SortServers returns a sorted copy of servers without duplicate IDs, in
// the order a pool lists serverset members. The order is total, so the
// result does not depend on the order of servers (ZooKeeper lists children
// in no particular order, and rings depend on member order):
//   - by instance: none first, then integers (as int64) by value, so shard
//     2 < shard 10, then every other instance by string; two spellings of
//     one integer ("7", "07") by string;
//   - then host, port and proto;
//   - of servers with the same ID, the one whose Raw sorts first is kept.
func SortServers(servers []Server) []Server {
	out := append(make([]Server, 0, len(servers)), servers...) // never nil
	slices.SortFunc(out, compareServers)
	return slices.CompactFunc(out, func(a, b Server) bool { return a.ID() == b.ID() })
}

func compareServers(a, b Server) int {
	if c := compareInstances(a.Instance, b.Instance); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ID(), b.ID()); c != 0 {
		return c
	}
	return cmp.Compare(a.Raw, b.Raw)
}

// compareInstances orders instances in three classes, each totally
// ordered: "" < integers (by value, then by string) < other names (by
// string).
func compareInstances(a, b string) int {
	if a == b {
		return 0
	}
	ai, aerr := strconv.ParseInt(a, 10, 64)
	bi, berr := strconv.ParseInt(b, 10, 64)
	class := func(s string, err error) int {
		switch {
		case s == "":
			return 0
		case err == nil:
			return 1
		}
		return 2
	}
	if c := cmp.Compare(class(a, aerr), class(b, berr)); c != 0 {
		return c
	}
	if aerr == nil && berr == nil {
		if c := cmp.Compare(ai, bi); c != 0 {
			return c
		}
	}
	return cmp.Compare(a, b)
}
