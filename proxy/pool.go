package proxy

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ringrelay/discovery"
	"ringrelay/hashring"
	"ringrelay/proxy/backend"
)

// Pool is a named set of backends behind one hash ring. Its membership can be
// replaced at any time (static config, ZooKeeper, HTTP): each change builds a
// new ring and swaps it in atomically. Backends that stay keep their queues
// (no line is lost or reordered); new ones are started; removed ones get a
// bounded time to drain and their leftovers are counted as backend_gone.
type Pool struct {
	name       string
	index      int  // position in the relay's pool list
	noBackends bool // route-only: rings without connections
	cfg        PoolConfig
	log        *zap.Logger
	metrics    *poolMetrics
	bmet       *backend.Metrics

	// Membership feeds rebuild; it is the pool's source of truth.
	Membership *discovery.Membership

	state atomic.Pointer[poolState]

	mu       sync.Mutex // guards backends and closed; held across a rebuild
	backends map[string]*backend.Backend
	closed   bool
	retire   sync.WaitGroup // goroutines draining removed backends
	// stopRetire ends the drains of removed backends early: close calls it
	// when its own deadline passes, so they too end within shutdown_timeout.
	retireCtx  context.Context
	stopRetire context.CancelFunc
}

// poolState is an immutable routing table: a ring and the backend behind
// each of its member indexes.
type poolState struct {
	ring     hashring.Ring // nil when the pool has no members
	servers  []discovery.Server
	backends []*backend.Backend
	snap     discovery.Snapshot
	built    time.Time
}

type poolOptions struct {
	Name       string
	Index      int
	NoBackends bool
	Config     PoolConfig
	Logger     *zap.Logger
	Metrics    *Metrics
}

func newPool(o poolOptions) (*Pool, error) {
	static, err := parseServers(o.Config.Servers)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		name:       o.Name,
		index:      o.Index,
		noBackends: o.NoBackends,
		cfg:        o.Config,
		log:        o.Logger.Named("pool").With(zap.String("pool", o.Name)),
		metrics:    o.Metrics.pool(o.Name),
		bmet:       o.Metrics.Backend,
		backends:   map[string]*backend.Backend{},
	}
	p.retireCtx, p.stopRetire = context.WithCancel(context.Background())
	p.Membership = discovery.NewMembership(discovery.MembershipConfig{
		Pool:       o.Name,
		Static:     static,
		PoolConfig: o.Config.PoolConfig,
		Metrics:    o.Metrics.Discovery,
		OnChange:   p.rebuild,
	})
	p.rebuild(p.Membership.Snapshot())
	return p, nil
}

// rebuild builds the ring for snap and swaps it in. Called by Membership,
// one call at a time.
func (p *Pool) rebuild(snap discovery.Snapshot) {
	start := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	servers := snap.Servers()
	st := &poolState{servers: servers, snap: snap, built: start, backends: make([]*backend.Backend, len(servers))}
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
		id := s.ID()
		b := p.backends[id]
		if b == nil {
			b = backend.New(backend.Options{Config: p.cfg.Config, Server: s, Pool: p.name, Logger: p.log, Metrics: p.bmet})
		}
		keep[id] = b
		st.backends[i] = b
	}
	old := p.backends
	p.backends = keep
	p.state.Store(st)
	for id, b := range old {
		if keep[id] == nil {
			p.retire.Add(1)
			go func() {
				defer p.retire.Done()
				ctx, cancel := context.WithTimeout(p.retireCtx, p.cfg.DrainOnRemove.Duration)
				defer cancel()
				b.CloseReason(ctx, "backend_gone")
			}()
		}
	}
	p.metrics.members.Set(float64(len(servers)))
	p.metrics.rebuilds.Inc()
	p.log.Info("ring rebuilt", zap.Int("members", len(servers)), zap.Duration("took", time.Since(start)))
}

// checkMember returns the error the pool's ring would give with s added to
// the current members (nil if it builds), so that a member the ring refuses
// is turned away before it enters the membership, where it would make every
// later rebuild fail.
func (p *Pool) checkMember(s discovery.Server) error {
	servers := p.Membership.Snapshot().Servers()
	if !slices.ContainsFunc(servers, func(m discovery.Server) bool { return m.ID() == s.ID() }) {
		servers = append(servers, s)
	}
	_, err := hashring.New(p.cfg.ringConfig(true), ringMembers(servers))
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
// removal, until ctx is done, then stops them.
func (p *Pool) close(ctx context.Context) {
	p.Membership.Stop() // no rebuild after this returns
	defer context.AfterFunc(ctx, p.stopRetire)()
	defer p.stopRetire()
	p.mu.Lock()
	p.closed = true
	bs := p.backends
	p.backends = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.CloseReason(ctx, "shutdown")
		}()
	}
	wg.Wait()
	p.retire.Wait()
}
