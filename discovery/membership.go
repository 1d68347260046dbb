package discovery

import (
	"slices"
	"sync"
	"time"
)

// Source says where a member came from.
type Source string

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
	// time, never while a Membership lock is held. It must not block for long.
	OnChange func(Snapshot)
}

// Membership combines a pool's sources: static servers, the ZooKeeper
// serverset (once synced), and the HTTP add/purge overlay, which is
// re-applied after every rebuild. It is safe for concurrent use.
type Membership struct {
	cfg MembershipConfig

	notify sync.Mutex // serialises OnChange calls, in order of changes

	mu       sync.Mutex
	zk       []Server // nil until the first sync
	lastSync time.Time
	added    []Server
	purged   map[string]bool // by Server.ID()
	version  uint64
}

// NewMembership returns a Membership on its static servers.
func NewMembership(cfg MembershipConfig) *Membership {
	return &Membership{cfg: cfg, purged: map[string]bool{}}
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

// Add puts s into the HTTP overlay (and takes it off the purge list).
func (m *Membership) Add(s Server) {
	m.update(func() {
		delete(m.purged, s.ID())
		if !slices.ContainsFunc(m.added, func(a Server) bool { return a.ID() == s.ID() }) {
			m.added = append(m.added, s)
		}
	})
}

// Purge removes s from the membership whatever its source, until it is
// added again over HTTP.
func (m *Membership) Purge(s Server) {
	m.update(func() {
		m.purged[s.ID()] = true
		m.added = slices.DeleteFunc(m.added, func(a Server) bool { return a.ID() == s.ID() })
	})
}

// SetZooKeeper replaces the serverset part of the membership after a
// successful sync.
func (m *Membership) SetZooKeeper(servers []Server, at time.Time) {
	m.update(func() {
		m.zk = append([]Server{}, servers...)
		m.lastSync = at
	})
}

func (m *Membership) update(f func()) {
	m.notify.Lock()
	defer m.notify.Unlock()
	m.mu.Lock()
	f()
	m.version++
	snap := m.snapshotLocked()
	m.mu.Unlock()
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(snap)
	}
}
