package proxy

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ringrelay/discovery"
	"ringrelay/hashring"
	"ringrelay/proxy/backend"
)

// Pool is a named set of backends behind one hash ring. It belongs to the
// runtime: it lives from the config that first names it until a config no
// longer does, across any number of reloads. Its membership can be replaced
// at any time (static config, ZooKeeper, HTTP) and its settings on reload:
// each change builds a new ring and swaps it in atomically. Backends that
// stay (same server, same backend settings) keep their queues, so no line
// is lost or reordered; new ones are started; removed ones get a bounded
// time to drain and their leftovers are counted as backend_gone.
type Pool struct {
	name       string
	index      int  // the pool's slot in dispatcher counters; never reused
	noBackends bool // route-only: rings without connections
	log        *zap.Logger
	metrics    *poolMetrics
	bmet       *backend.Metrics
	budget     *backend.Budget

	// membership feeds rebuild; it is the pool's source of truth. A reload
	// that changes which serverset the pool follows replaces it.
	membership atomic.Pointer[discovery.Membership]

	state atomic.Pointer[poolState]

	mu       sync.Mutex // guards cfg, backends and closed; held across a rebuild
	cfg      PoolConfig
	backends map[string]*backend.Backend
	renew    bool // the next rebuild replaces every backend (new settings)
	closed   bool
	// shortfall is the current ring's poolState.shortfall, kept to log
	// when it changes.
	shortfall int
	// With apply_changes = "aligned:D", a membership change waits here
	// for the next multiple of D on the wall clock.
	pending    *discovery.Snapshot
	applyTimer *time.Timer
	retire     sync.WaitGroup // goroutines draining removed backends
	// stopRetire ends the drains of removed backends early: close calls it
	// when its own deadline passes, so they too end within shutdown_timeout.
	retireCtx  context.Context
	stopRetire context.CancelFunc
}

// poolState is an immutable routing table: a ring, the backend behind each
// of its member indexes, and the settings it was built with.
type poolState struct {
	cfg      PoolConfig
	ring     hashring.Ring // nil when the pool has no members
	servers  []discovery.Server
	backends []*backend.Backend
	snap     discovery.Snapshot
	built    time.Time
	// shortfall is how many copies each line misses: the replication
	// minus the members, when above (the ring is clamped).
	shortfall int
}

type poolOptions struct {
	Name       string
	Index      int
	NoBackends bool
	Config     PoolConfig
	Logger     *zap.Logger
	Metrics    *Metrics
	Budget     *backend.Budget
	// Store, when set, holds the serverset membership last saved on disk:
	// the pool starts on it and saves every membership ZooKeeper gives it.
	Store *discovery.StateStore
}

func newPool(o poolOptions) (*Pool, error) {
	p := &Pool{
		name:       o.Name,
		index:      o.Index,
		noBackends: o.NoBackends,
		cfg:        o.Config,
		log:        o.Logger.Named("pool").With(zap.String("pool", o.Name)),
		metrics:    o.Metrics.pool(o.Name),
		bmet:       o.Metrics.Backend,
		budget:     o.Budget,
		backends:   map[string]*backend.Backend{},
	}
	p.retireCtx, p.stopRetire = context.WithCancel(context.Background())
	m, err := p.newMembership(o.Config, o.Metrics.Discovery, o.Store)
	if err != nil {
		return nil, err
	}
	p.membership.Store(m)
	p.rebuild(m, m.Snapshot())
	return p, nil
}

// newMembership builds the membership for cfg, seeded with the serverset's
// last-known-good members from store when there are some.
func (p *Pool) newMembership(cfg PoolConfig, met *discovery.Metrics, store *discovery.StateStore) (*discovery.Membership, error) {
	static, err := cfg.staticServers()
	if err != nil {
		return nil, err
	}
	mc := discovery.MembershipConfig{
		Pool:          p.name,
		Static:        static,
		PoolConfig:    cfg.PoolConfig,
		Metrics:       met,
		VirtualShards: cfg.virtualShards(),
		Logger:        p.log,
	}
	if cfg.Serverset != "" && store != nil {
		mc.Store, mc.Serverset = store, cfg.Serverset
		seed, at, ok, err := store.Load(p.name, cfg.Serverset)
		switch {
		case err != nil:
			p.log.Warn("ignoring the saved membership", zap.Error(err))
		case ok && len(seed) > 0:
			mc.Seed, mc.SeedAt = seed, at
		}
	}
	var m *discovery.Membership
	mc.OnChange = func(snap discovery.Snapshot) { p.rebuild(m, snap) }
	m = discovery.NewMembership(mc)
	return m, nil
}

// useMembers makes servers, in this order (repeats kept), the pool's whole
// membership, as static servers: `relay route -admin` routes on the members
// a running relay reports. It refuses members the pool's ring refuses.
func (p *Pool) useMembers(servers []discovery.Server) error {
	if len(servers) > 0 {
		if _, err := hashring.New(p.Config().ringConfig(true), ringMembers(servers)); err != nil {
			return err
		}
	}
	m := discovery.NewMembership(discovery.MembershipConfig{Pool: p.name, Static: servers, VirtualShards: true, Logger: p.log})
	p.membership.Swap(m).Stop()
	p.rebuild(m, m.Snapshot())
	return nil
}

// Membership is the pool's current membership (HTTP add/purge act on it).
func (p *Pool) Membership() *discovery.Membership { return p.membership.Load() }

// Config is the pool's current settings.
func (p *Pool) Config() PoolConfig { return p.state.Load().cfg }

// rebuild builds the ring for snap, a snapshot of m, and swaps it in. Called
// by Membership, one call at a time; snapshots of a membership the pool no
// longer follows are ignored.
func (p *Pool) rebuild(m *discovery.Membership, snap discovery.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.membership.Load() != m {
		return
	}
	align, _ := p.cfg.applyAlign()
	// Aligned or not, the first ZooKeeper membership applies at once: until
	// it does the pool routes on static servers or a saved guess, not on
	// what the other relays of the tier use.
	if align <= 0 || p.state.Load() == nil || p.state.Load().snap.LastSync.IsZero() {
		p.rebuildLocked(snap)
		return
	}
	p.pending = &snap
	if p.applyTimer == nil {
		now := time.Now()
		at := now.Truncate(align).Add(align)
		p.applyTimer = time.AfterFunc(at.Sub(now), p.applyPending)
		p.log.Info("membership change waits for the aligned instant", zap.Time("at", at))
	}
}

// applyPending applies the latest membership change held for alignment.
func (p *Pool) applyPending() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applyTimer = nil
	if p.closed || p.pending == nil {
		return
	}
	snap := *p.pending
	p.pending = nil
	p.rebuildLocked(snap)
}

func (p *Pool) rebuildLocked(snap discovery.Snapshot) {
	// Whatever waited for the aligned instant is older than snap.
	p.pending = nil
	start := time.Now()
	servers := snap.Servers()
	st := &poolState{cfg: p.cfg, servers: servers, snap: snap, built: start, backends: make([]*backend.Backend, len(servers)),
		shortfall: replicationShortfall(p.cfg, len(servers))}
	if len(servers) > 0 {
		ring, err := hashring.New(p.cfg.ringConfig(true), ringMembers(servers))
		if err != nil {
			// Membership only holds parsed servers, so this is a ring the
			// peer itself would refuse (e.g. carbon fnv1a_ch without
			// instances): keep routing on the last good ring.
			p.metrics.rebuildErrors.Inc()
			p.log.Error("failed to build ring; keeping the previous one", zap.Error(err), zap.Int("members", len(servers)))
			return
		}
		st.ring = ring
	}
	keep := make(map[string]*backend.Backend, len(servers))
	for i, s := range servers {
		if p.noBackends {
			continue
		}
		dest := p.backendServer(s)
		id := dest.ID()
		b := keep[id] // a backend that owns several shards
		if b == nil && !p.renew {
			b = p.backends[id]
		}
		if b == nil {
			b = backend.New(backend.Options{Config: p.cfg.Config, Server: dest, Pool: p.name, Logger: p.log, Metrics: p.bmet, Budget: p.budget})
		}
		keep[id] = b
		st.backends[i] = b
	}
	old := p.backends
	p.backends = keep
	prev := p.state.Load()
	p.state.Store(st)
	for id, b := range old {
		if p.renew || keep[id] == nil {
			p.retireLocked(b, p.cfg.DrainOnRemove.Duration)
		}
	}
	p.renew = false
	p.metrics.members.Set(float64(len(servers)))
	p.metrics.rebuilds.Inc()
	var before []discovery.Member
	if prev != nil {
		before = prev.snap.Members
	}
	joined, left := memberChanges(before, snap.Members)
	p.log.Info("ring rebuilt", zap.Int("members", len(servers)), zap.Strings("joined", joined), zap.Strings("left", left),
		zap.Duration("took", time.Since(start)))
	p.reportShortfallLocked(st.shortfall, len(servers))
}

// memberChanges lists who joined and who left between two memberships, as
// "host:port[=instance] (source)". Members are counted by identity, so a
// shard map that lists a backend once more has it join once more.
func memberChanges(before, after []discovery.Member) (joined, left []string) {
	count := make(map[string]int, len(before))
	for _, m := range before {
		count[m.ID()]++
	}
	for _, m := range after {
		if count[m.ID()] > 0 {
			count[m.ID()]--
			continue
		}
		joined = append(joined, describeMember(m))
	}
	for _, m := range before {
		if count[m.ID()] > 0 {
			count[m.ID()]--
			left = append(left, describeMember(m))
		}
	}
	return joined, left
}

func describeMember(m discovery.Member) string { return m.Display() + " (" + string(m.Source) + ")" }

// replicationShortfall is how many copies each line misses on a ring of n
// members (0 without members: that pool routes nothing, and says so).
func replicationShortfall(cfg PoolConfig, n int) int {
	if r := max(cfg.Replication, 1); n > 0 && r > n {
		return r - n
	}
	return 0
}

// reportShortfallLocked publishes the shortfall of the ring just built (n
// members) and warns when it changes: with fewer live members than its
// replication a pool keeps routing (the ring is clamped), but each line
// gets fewer copies than configured, which must not go unnoticed.
func (p *Pool) reportShortfallLocked(short, n int) {
	p.metrics.shortfall.Set(float64(short))
	if short == p.shortfall {
		return
	}
	r := max(p.cfg.Replication, 1)
	switch {
	case short > 0:
		p.log.Warn("replication is above the live member count: lines get fewer copies",
			zap.Int("replication", r), zap.Int("members", n), zap.Int("missing_copies", short))
	case p.shortfall > 0:
		p.log.Info("replication restored", zap.Int("replication", r), zap.Int("members", n))
	}
	p.shortfall = short
}

// backendServer is the destination behind ring member s. In a shard map
// (virtualShards) a backend owns every shard that names its address, and
// serverset shards differ by instance (the shard number): the instance is
// dropped so that they share one backend, one connection and one queue.
func (p *Pool) backendServer(s discovery.Server) discovery.Server {
	if p.cfg.virtualShards() && s.Instance != "" {
		s.Instance, s.Raw = "", ""
	}
	return s
}

// distinctBackends lists each backend of the routing table once, in the
// order of its first ring member (a shard map names one several times).
// Nil entries (route-only pools) are left out.
func (st *poolState) distinctBackends() []*backend.Backend {
	out := make([]*backend.Backend, 0, len(st.backends))
	for _, b := range st.backends {
		if b != nil && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// retireLocked drains b in the background for at most d, then closes it;
// what is left is counted as backend_gone.
func (p *Pool) retireLocked(b *backend.Backend, d time.Duration) {
	p.retire.Add(1)
	go func() {
		defer p.retire.Done()
		ctx, cancel := context.WithTimeout(p.retireCtx, d)
		defer cancel()
		b.CloseReason(ctx, backend.ReasonBackendGone)
	}()
}

// reconfigure applies a reloaded config to the running pool. Backends whose
// server stays and whose backend settings are unchanged keep their queues;
// with new backend settings every backend is replaced (the old ones drain as
// removed ones do). A pool that now follows another serverset (or selects
// its members differently, or starts or stops being a shard map) gets a
// new membership, seeded from store; the HTTP overlay of the old one is
// dropped with it. It reports whether the routing table changed.
func (p *Pool) reconfigure(cfg PoolConfig, disc *discovery.Metrics, store *discovery.StateStore) (changed bool, newMembership *discovery.Membership, err error) {
	old := p.Config()
	if reflect.DeepEqual(old, cfg) {
		return false, nil, nil
	}
	m := p.membership.Load()
	oldM := m
	var static []discovery.Server
	if !sameDiscovery(old.PoolConfig, cfg.PoolConfig) || old.virtualShards() != cfg.virtualShards() {
		if m, err = p.newMembership(cfg, disc, store); err != nil {
			return false, nil, err
		}
		newMembership = m
	} else if static, err = cfg.staticServers(); err != nil {
		return false, nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false, nil, nil
	}
	p.cfg = cfg
	// New queue or connection settings: fresh backends take over at the
	// next rebuild and the old ones drain what they hold.
	p.renew = !reflect.DeepEqual(old.Config, cfg.Config)
	if newMembership != nil {
		p.membership.Store(newMembership)
	}
	before := p.state.Load()
	p.mu.Unlock()
	if newMembership == nil {
		m.Reconfigure(static, cfg.PoolConfig) // may rebuild at once
	} else {
		// The old membership's timers and saves end here: its snapshots
		// are ignored, and it must not overwrite the pool's saved file.
		oldM.Stop()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Load() == before && !p.closed {
		p.rebuildLocked(p.membership.Load().Snapshot())
	}
	return true, newMembership, nil
}

// sameDiscovery reports whether two pool configs follow the same members:
// same serverset, endpoint, shard and mapping. The policy (debounce,
// remove_delay, empty_hold) may differ.
func sameDiscovery(a, b discovery.PoolConfig) bool {
	a.Debounce, a.RemoveDelay, a.EmptyHold = b.Debounce, b.RemoveDelay, b.EmptyHold
	return reflect.DeepEqual(a, b)
}

// checkMember returns the error the pool's ring would give with s added to
// the current members (nil if it builds), so that a member the ring refuses
// is turned away before it enters the membership, where it would make every
// later rebuild fail.
func (p *Pool) checkMember(s discovery.Server) error {
	servers := p.Membership().Snapshot().Servers()
	if !slices.ContainsFunc(servers, func(m discovery.Server) bool { return m.ID() == s.ID() }) {
		servers = append(servers, s)
	}
	_, err := hashring.New(p.Config().ringConfig(true), ringMembers(servers))
	return err
}

// lookup is the one routing decision shared by live traffic, `relay route`
// and /hashcheck: the current state and the indexes of key's backends
// (none when the pool has no members).
func (p *Pool) lookup(key []byte, dst []int) (*poolState, []int) {
	st := p.state.Load()
	if st.ring == nil {
		return st, dst[:0]
	}
	return st, st.ring.Lookup(key, dst)
}

// close drains every backend, including those still draining after their
// removal, until ctx is done, then stops them; reason is what is left
// counts as (shutdown, or backend_gone for a pool a reload removed).
func (p *Pool) close(ctx context.Context, reason string) {
	p.Membership().Stop() // no rebuild after this returns
	defer context.AfterFunc(ctx, p.stopRetire)()
	defer p.stopRetire()
	p.mu.Lock()
	p.closed = true
	if p.applyTimer != nil {
		p.applyTimer.Stop()
	}
	bs := p.backends
	p.backends = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.CloseReason(ctx, reason)
		}()
	}
	wg.Wait()
	p.retire.Wait()
}
