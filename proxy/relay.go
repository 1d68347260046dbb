// Package proxy is the running relay: listeners, line routing, pre-routing
// rules, pools with their rings and backends, and the admin HTTP API. It
// builds all of it from a Config and applies later configs to it without a
// restart. Line parsing lives in proxy/line and outbound queues in
// proxy/backend; ring algorithms are hashring's and membership is
// discovery's.
//
// # Runtime and router
//
// A Relay is the runtime: it owns what must outlive a config (listeners
// keyed by address, pools and their backends keyed by name and server, the
// ZooKeeper session, each pool's membership with its HTTP overlay, the
// metrics registry). A router is what one config says (formats, rules,
// which pool each listener feeds, ring settings); it is immutable and each
// listener holds its part (a route) behind an atomic pointer. Reload builds
// and validates the new router, binds only new listeners (one that cannot
// bind refuses the whole config, changing nothing), creates only new pools
// and backends, swaps the routes in, then stops what the new config no
// longer names. Open connections keep reading throughout.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"ringrelay/discovery"
	"ringrelay/graphiteapi"
	"ringrelay/proxy/backend"
	"ringrelay/proxy/line"
	"ringrelay/sinks"
)

// Options are what a Relay is built from.
type Options struct {
	Config Config
	Logger *zap.Logger
	// Registry receives the relay's metrics; nil makes a new one (with Go
	// and process collectors) that /metrics serves.
	Registry *prometheus.Registry
	// NoBackends builds pools without outbound connections: `relay route`
	// uses it to route on the very same code without sending anything.
	NoBackends bool
}

// Relay is the relay's runtime. Build it with New, Start it, Reload it any
// number of times, then Shutdown it.
type Relay struct {
	log        *zap.Logger
	reg        *prometheus.Registry
	metrics    *Metrics
	noBackends bool
	budget     *backend.Budget
	conns      *connLimit // max_connections over all listeners

	// router is the config running now, for the admin API (lock-free).
	router atomic.Pointer[router]

	// mu serialises Start, Reload and Shutdown and guards what follows.
	// The data path never takes it.
	mu        sync.Mutex
	pools     map[string]*Pool  // by name
	nextIndex int               // the next pool's index; never reused
	aggs      map[string]*aggRT // by name
	nextAgg   int
	// sinks are the open sinks by name; sinkMu guards them for scrapes
	// (writers also hold mu), and with them what the name's series add:
	// the sinks a reload replaced, until no flush can write to them any
	// more (sinkOld), then their final counts (sinkBase).
	sinkMu   sync.Mutex
	sinks    map[string]*sinkRT
	sinkOld  map[string][]*sinkRT
	sinkBase map[string]sinks.Stats
	// api is the Graphite read API of the running config (nil: off);
	// apiLn its own listener ([graphiteapi] listen).
	api       atomic.Pointer[graphiteapi.API]
	apiLn     *admin
	listeners map[string]*listener // by listenKey
	// discovery is nil without [zookeeper] servers; discMu guards it for
	// the admin API, which must not wait on a reload.
	discMu    sync.Mutex
	discovery *discovery.Discovery
	store     *discovery.StateStore
	admin     *admin
	metricsLn *admin // [admin] metrics_listen
	running   bool
	stopped   bool
	started   time.Time
	retiring  sync.WaitGroup // pools a reload removed, draining
	retireCtx context.Context
	retireEnd context.CancelFunc

	// beforeAdminClose, when set (tests), runs at the end of Shutdown,
	// when the counts are final and the admin API still serves.
	beforeAdminClose func()
}

// router is what one config makes of the runtime: immutable.
type router struct {
	cfg       Config
	pools     map[string]*Pool
	aggs      map[string]*aggRT
	poolNames []string    // sorted
	listeners []*listener // in config order
}

// New builds a relay from a validated config: pools (whose backends start
// connecting at once) and listeners (not yet bound).
func New(o Options) (*Relay, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	r := &Relay{
		log: log, reg: reg, metrics: NewMetrics(reg), noBackends: o.NoBackends,
		pools: map[string]*Pool{}, listeners: map[string]*listener{}, aggs: map[string]*aggRT{},
		sinks: map[string]*sinkRT{}, sinkOld: map[string][]*sinkRT{}, sinkBase: map[string]sinks.Stats{},
	}
	r.retireCtx, r.retireEnd = context.WithCancel(context.Background())
	reg.MustRegister(newUDPCollector(r), newAggCollector(r), newSinkCollector(r))
	cfg := o.Config
	cfg.fillDefaults()
	r.budget = backend.NewBudget(int64(cfg.MaxQueueBytes), r.metrics.Backend)
	r.conns = &connLimit{}
	r.conns.max.Store(int64(cfg.MaxConnections))
	if cfg.StateDir != "" && !o.NoBackends {
		st, err := discovery.NewStateStore(cfg.StateDir)
		if err != nil {
			return nil, fmt.Errorf("state_dir: %w", err)
		}
		r.store = st
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pl, err := r.prepare(cfg)
	if err != nil {
		return nil, err
	}
	r.commit(pl)
	return r, nil
}

// plan is a config made ready to swap in: everything that can fail has been
// done (new listeners bound, new pools built) and nothing running has
// changed yet.
type plan struct {
	cfg          Config
	newListeners []*listener
	newPools     map[string]*Pool
	newAdmin     *admin
	newMetricsLn *admin
	newDiscovery *discovery.Discovery // the [zookeeper] section changed
	newSinks     map[string]*sinkRT   // sinks the config adds, open
	newAPILn     *admin               // [graphiteapi] listen moved
}

// abort undoes a plan that will not be committed.
func (r *Relay) abort(pl *plan) {
	for _, l := range pl.newListeners {
		if l.ln != nil || l.pc != nil {
			l.stop(context.Background())
		}
	}
	if pl.newAdmin != nil {
		pl.newAdmin.close()
	}
	if pl.newMetricsLn != nil {
		pl.newMetricsLn.close()
	}
	if pl.newAPILn != nil {
		pl.newAPILn.close()
	}
	if pl.newDiscovery != nil {
		pl.newDiscovery.Close()
	} else if r.discovery != nil {
		for name := range pl.newPools {
			r.discovery.StopWatch(name)
		}
	}
	for _, p := range pl.newPools {
		// Never routed to; backend_gone lets their series go.
		p.close(context.Background(), backend.ReasonBackendGone)
	}
	for _, s := range pl.newSinks {
		r.closeSinks([]*sinkRT{s})
	}
}

// prepare does the part of applying cfg that can fail. Once running, new
// listeners and a new admin address are bound, and new serverset pools wait
// (up to start_wait) for their first sync before the router that routes to
// them is swapped in.
func (r *Relay) prepare(cfg Config) (*plan, error) {
	pl := &plan{cfg: cfg, newPools: map[string]*Pool{}}
	for _, lc := range cfg.Listeners {
		key, err := listenKey(lc)
		if err != nil {
			return nil, err
		}
		if r.listeners[key] != nil {
			continue
		}
		l, err := newListener(lc, nil, r.conns, r.log)
		if err != nil {
			r.abort(pl)
			return nil, err
		}
		pl.newListeners = append(pl.newListeners, l)
		if r.running {
			l.route.Store(&route{cfg: lc}) // for its error messages until the real one
			if err := l.bind(); err != nil {
				r.abort(pl)
				return nil, err
			}
		}
	}
	if r.running && cfg.Admin.Listen != r.router.Load().cfg.Admin.Listen && cfg.Admin.Listen != "" {
		a, err := startAdmin(r, cfg.Admin)
		if err != nil {
			r.abort(pl)
			return nil, err
		}
		pl.newAdmin = a
	}
	if r.running && cfg.Admin.MetricsListen != r.router.Load().cfg.Admin.MetricsListen && cfg.Admin.MetricsListen != "" {
		m, err := startMetricsListener(r, cfg.Admin)
		if err != nil {
			r.abort(pl)
			return nil, err
		}
		pl.newMetricsLn = m
	}
	if r.running && cfg.GraphiteAPI.Listen != r.router.Load().cfg.GraphiteAPI.Listen && cfg.GraphiteAPI.Listen != "" {
		a, err := startGraphiteAPIListener(r, cfg)
		if err != nil {
			r.abort(pl)
			return nil, err
		}
		pl.newAPILn = a
	}
	if err := r.prepareSinks(pl); err != nil {
		r.abort(pl)
		return nil, err
	}
	names := sortedKeys(cfg.Pools)
	for _, name := range names {
		if r.pools[name] != nil {
			continue
		}
		p, err := newPool(poolOptions{Name: name, Index: r.nextIndex + len(pl.newPools), Config: cfg.Pools[name],
			Logger: r.log, Metrics: r.metrics, NoBackends: r.noBackends, Budget: r.budget, Store: r.store})
		if err != nil {
			r.abort(pl)
			return nil, fmt.Errorf("failed to build pool %q: %w", name, err)
		}
		pl.newPools[name] = p
	}
	if !r.running {
		return pl, nil
	}
	d := r.discovery
	if !reflect.DeepEqual(cfg.ZooKeeper, r.router.Load().cfg.ZooKeeper) && cfg.ZooKeeper.Enabled() {
		nd, err := discovery.New(discovery.Options{ZooKeeper: cfg.ZooKeeper, Logger: r.log, Metrics: r.metrics.Discovery})
		if err != nil {
			r.abort(pl)
			return nil, fmt.Errorf("failed to set up zookeeper discovery: %w", err)
		}
		pl.newDiscovery, d = nd, nd
		if err := nd.Start(); err != nil {
			r.log.Error("zookeeper discovery not started; pools stay on their last members", zap.Error(err))
		}
	} else if !cfg.ZooKeeper.Enabled() {
		d = nil
	}
	if d != nil {
		var waits []*Pool
		for _, name := range sortedKeys(pl.newPools) {
			if p := pl.newPools[name]; r.watch(d, p) {
				waits = append(waits, p)
			}
		}
		r.waitSynced(waits, cfg.ZooKeeper.StartWait.Duration)
	}
	return pl, nil
}

// commit swaps pl in. It cannot fail.
func (r *Relay) commit(pl *plan) (changes []string) {
	cfg := pl.cfg
	// Pools: new ones join the runtime, kept ones take their new settings.
	for _, name := range sortedKeys(pl.newPools) {
		r.pools[name] = pl.newPools[name]
		r.nextIndex++
		changes = append(changes, "pool "+name+" added")
	}
	var rewatch []*Pool
	for _, name := range sortedKeys(cfg.Pools) {
		p := r.pools[name]
		if pl.newPools[name] != nil {
			continue
		}
		changed, newM, err := p.reconfigure(cfg.Pools[name], r.metrics.Discovery, r.store)
		if err != nil { // validated already: not expected
			r.log.Error("failed to reconfigure pool; it keeps its settings", zap.String("pool", name), zap.Error(err))
			continue
		}
		if changed {
			changes = append(changes, "pool "+name+" changed")
		}
		if newM != nil {
			rewatch = append(rewatch, p)
		}
	}
	var removedPools []*Pool
	for name, p := range r.pools {
		if _, ok := cfg.Pools[name]; !ok {
			removedPools = append(removedPools, p)
			delete(r.pools, name)
			changes = append(changes, "pool "+name+" removed")
		}
	}
	// The router: a route per listener, over the runtime's pools and
	// aggregators.
	rt := &router{cfg: cfg, pools: map[string]*Pool{}, aggs: map[string]*aggRT{}, poolNames: sortedKeys(cfg.Pools)}
	for _, name := range rt.poolNames {
		rt.pools[name] = r.pools[name]
	}
	retiredSinks := r.commitSinks(pl, &changes)
	r.commitGraphiteAPI(cfg)
	retiredAggs := r.commitAggregators(rt, &changes)
	keep := map[string]bool{}
	fresh := map[*listener]bool{}
	for _, l := range pl.newListeners {
		r.listeners[l.key] = l
		fresh[l] = true
	}
	for _, lc := range cfg.Listeners {
		key, _ := listenKey(lc)
		l := r.listeners[key]
		keep[key] = true
		route, err := r.newRoute(rt, lc)
		if err != nil { // validated already: not expected
			r.log.Error("failed to build route; the listener keeps its old one", zap.String("listener", lc.Name), zap.Error(err))
			continue
		}
		if !fresh[l] {
			prev := l.cfg()
			if prev.ReadBuffer != lc.ReadBuffer {
				l.setReadBuffer(lc.ReadBuffer)
			}
			if prev.Readers != lc.Readers && l.scheme == "udp" {
				r.log.Warn("readers of a kept udp listener change at restart", zap.String("listener", lc.Name), zap.Int("readers", prev.Readers))
			}
			if !reflect.DeepEqual(prev, lc) {
				changes = append(changes, "listener "+lc.Name+" changed")
			}
		} else {
			changes = append(changes, "listener "+lc.Name+" added ("+l.key+")")
		}
		l.route.Store(route)
		rt.listeners = append(rt.listeners, l)
	}
	r.router.Store(rt)
	if r.running {
		for _, l := range pl.newListeners {
			l.serve()
		}
	}
	r.budget.SetLimit(int64(cfg.MaxQueueBytes))
	r.conns.max.Store(int64(cfg.MaxConnections))
	// What the new config no longer names stops now: listeners first (a
	// connection on a removed address ends, its lines already routed),
	// then the pools they may have fed.
	for key, l := range r.listeners {
		if !keep[key] {
			delete(r.listeners, key)
			changes = append(changes, "listener "+l.cfg().Name+" removed ("+key+")")
			l.stop(context.Background())
		}
	}
	if pl.newAdmin != nil {
		if r.admin != nil {
			r.admin.close()
		}
		r.admin = pl.newAdmin
		changes = append(changes, "admin moved to "+pl.newAdmin.ln.Addr().String())
	} else if r.running && cfg.Admin.Listen == "" && r.admin != nil {
		r.admin.close()
		r.admin = nil
		changes = append(changes, "admin closed")
	}
	if pl.newMetricsLn != nil {
		if r.metricsLn != nil {
			r.metricsLn.close()
		}
		r.metricsLn = pl.newMetricsLn
		changes = append(changes, "admin metrics_listen moved to "+pl.newMetricsLn.ln.Addr().String())
	} else if r.running && cfg.Admin.MetricsListen == "" && r.metricsLn != nil {
		r.metricsLn.close()
		r.metricsLn = nil
		changes = append(changes, "admin metrics_listen closed")
	}
	if pl.newAPILn != nil {
		if r.apiLn != nil {
			r.apiLn.close()
		}
		r.apiLn = pl.newAPILn
		changes = append(changes, "graphiteapi moved to "+pl.newAPILn.ln.Addr().String())
	} else if r.running && cfg.GraphiteAPI.Listen == "" && r.apiLn != nil {
		r.apiLn.close()
		r.apiLn = nil
		changes = append(changes, "graphiteapi listener closed")
	}
	// Aggregators a reload dropped or rebuilt flush what they hold (to
	// pools that are all still open), once no dispatcher feeds them.
	for _, a := range retiredAggs {
		a.stop(true)
	}
	// Sinks the config dropped close once no flush may still write to them.
	for _, a := range r.aggs {
		a.flushMu.Lock()
		a.flushMu.Unlock() //nolint:staticcheck // a barrier: flushes in progress end
	}
	r.closeSinks(retiredSinks)
	r.settleSinkCounts()
	r.commitDiscovery(pl, removedPools, rewatch, &changes)
	for _, p := range removedPools {
		r.retiring.Add(1)
		go func() {
			defer r.retiring.Done()
			ctx, cancel := context.WithTimeout(r.retireCtx, p.Config().DrainOnRemove.Duration)
			defer cancel()
			p.close(ctx, backend.ReasonBackendGone)
		}()
	}
	return changes
}

// commitDiscovery points the ZooKeeper watches at the committed pools.
func (r *Relay) commitDiscovery(pl *plan, removed, rewatch []*Pool, changes *[]string) {
	if !r.running {
		return
	}
	if pl.newDiscovery != nil || (!pl.cfg.ZooKeeper.Enabled() && r.discovery != nil) {
		if r.discovery != nil {
			r.discovery.Close()
		}
		r.discMu.Lock()
		r.discovery = pl.newDiscovery
		r.discMu.Unlock()
		*changes = append(*changes, "zookeeper reconnected")
		if r.discovery == nil {
			return
		}
		for _, name := range sortedKeys(pl.cfg.Pools) {
			if pl.newPools[name] == nil {
				r.watch(r.discovery, r.pools[name])
			}
		}
		return
	}
	if r.discovery == nil {
		return
	}
	for _, p := range removed {
		r.discovery.StopWatch(p.name)
	}
	for _, p := range rewatch {
		r.discovery.StopWatch(p.name)
		r.watch(r.discovery, p)
	}
}

// watch has d follow p's serverset, if it has one; it reports whether d
// now watches it (a failure is logged: the pool keeps its members).
func (r *Relay) watch(d *discovery.Discovery, p *Pool) bool {
	c := p.Config()
	if c.Serverset == "" {
		return false
	}
	if err := d.Watch(p.name, c.PoolConfig, p.Membership()); err != nil {
		r.log.Error("failed to watch serverset", zap.String("pool", p.name), zap.Error(err))
		return false
	}
	return true
}

// waitSynced waits until every pool's membership has synced with ZooKeeper
// once, or until max has passed, then logs what each pool routes on.
func (r *Relay) waitSynced(pools []*Pool, max time.Duration) {
	if len(pools) == 0 {
		return
	}
	start := time.Now()
	timer := time.NewTimer(max)
	defer timer.Stop()
wait:
	for _, p := range pools {
		select {
		case <-p.Membership().Synced():
		case <-timer.C:
			break wait
		}
	}
	for _, p := range pools {
		snap := p.Membership().Snapshot()
		fields := []zap.Field{zap.String("pool", p.name), zap.String("serverset", p.Config().Serverset),
			zap.Int("members", len(snap.Members)), zap.Duration("waited", time.Since(start))}
		switch src := snapshotSource(snap); src {
		case discovery.SourceZooKeeper:
			r.log.Info("pool routes on its serverset", fields...)
		case discovery.SourceCache:
			r.log.Warn("serverset not synced within start_wait; pool routes on the membership last saved on disk", fields...)
		default:
			r.log.Warn("serverset not synced within start_wait and nothing saved on disk; pool routes on its static servers", fields...)
		}
	}
}

// snapshotSource is where a pool's serverset part comes from now.
func snapshotSource(s discovery.Snapshot) discovery.Source {
	if !s.LastSync.IsZero() {
		return discovery.SourceZooKeeper
	}
	for _, m := range s.Members {
		if m.Source == discovery.SourceCache {
			return discovery.SourceCache
		}
	}
	return discovery.SourceStatic
}

// newRoute compiles a listener's format and rules over rt's pools.
func (r *Relay) newRoute(rt *router, lc ListenerConfig) (*route, error) {
	f, err := line.NewFormat(lc.FormatConfig)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
	}
	ro := &route{
		cfg:      lc,
		listener: lc.Name,
		format:   f,
		pool:     rt.pools[lc.Pool],
		agg:      rt.aggs[lc.Aggregator],
		metrics:  r.metrics.listener(lc.Name, lc.Format),
		npools:   r.nextIndex,
		maxLine:  int(lc.MaxLine),
		idle:     lc.IdleTimeout.Duration,
	}
	if rw, ok := f.(line.Rewriter); ok {
		ro.rewriter = rw
	}
	if kr, ok := f.(line.KeyRewriter); ok {
		ro.keyRewriter = kr
	}
	for _, rc := range rt.cfg.Rules {
		if rc.Listener != lc.Name {
			continue
		}
		re, err := newMatcher(rc.Match)
		if err != nil {
			return nil, fmt.Errorf("rule for listener %q: bad regexp %q: %w", lc.Name, rc.Match, err)
		}
		ru := rule{re: re, reject: rc.Reject}
		if !rc.Reject {
			ru.pool = rt.pools[rc.Pool]
		}
		if rc.Aggregator != "" {
			ru.pool, ru.agg = nil, rt.aggs[rc.Aggregator]
		}
		ro.rules = append(ro.rules, ru)
	}
	if ro.agg != nil && len(ro.rules) == 0 && !lc.CCRNames && lc.Format == ro.agg.cfg.Kind {
		ro.direct = true
		ro.datagrams = lc.Format == "statsd"
	}
	return ro, nil
}

// commitAggregators puts the config's aggregators into rt: one whose
// settings (outputs aside) are unchanged is kept with what it accumulated;
// a new or changed one starts empty. It returns the aggregators that are
// replaced or gone, for the caller to stop (with a final flush) once the
// router is swapped.
func (r *Relay) commitAggregators(rt *router, changes *[]string) (retired []*aggRT) {
	for _, name := range sortedKeys(rt.cfg.Aggregators) {
		ac := rt.cfg.Aggregators[name]
		a := r.aggs[name]
		if a == nil || !a.cfg.sameState(ac) {
			na := newAggRT(name, r.nextAgg, ac, r.log, r.metrics.aggregator(name))
			r.nextAgg++
			if a != nil {
				a.next.Store(na)
				retired = append(retired, a)
				*changes = append(*changes, "aggregator "+name+" rebuilt (its state flushed)")
			} else {
				*changes = append(*changes, "aggregator "+name+" added")
			}
			a = na
			r.aggs[name] = a
			if r.running {
				a.start()
			}
		} else if !reflect.DeepEqual(a.outNames, ac.Output) {
			*changes = append(*changes, "aggregator "+name+" outputs changed")
		}
		a.outNames = ac.Output
		outs := make([]*route, 0, len(ac.Output))
		var ss []*sinkRT
		for _, pool := range ac.Output {
			if name, ok := strings.CutPrefix(pool, sinkPrefix); ok {
				ss = append(ss, r.sinks[name])
				continue
			}
			f, _ := line.NewFormat(line.FormatConfig{Format: "graphite"})
			outs = append(outs, &route{listener: "aggregator:" + name, format: f, pool: rt.pools[pool],
				metrics: internalListenerMetrics, npools: r.nextIndex, maxLine: 1 << 20})
		}
		a.outputs.Store(&outs)
		a.sinks.Store(&ss)
		rt.aggs[name] = a
	}
	for name, a := range r.aggs {
		if _, ok := rt.cfg.Aggregators[name]; !ok {
			delete(r.aggs, name)
			retired = append(retired, a)
			*changes = append(*changes, "aggregator "+name+" removed (its state flushed)")
		}
	}
	return retired
}

// aggregators are the running config's aggregators.
func (r *Relay) aggregators() []*aggRT {
	rt := r.router.Load()
	if rt == nil {
		return nil
	}
	out := make([]*aggRT, 0, len(rt.aggs))
	for _, name := range sortedKeys(rt.aggs) {
		out = append(out, rt.aggs[name])
	}
	return out
}

// Start binds every listener and the admin endpoint, starts discovery and
// waits (up to start_wait) for every serverset pool's first sync, then
// serves. Until then lines wait in the kernel's socket buffers (bounded by
// them). On error, whatever was started is stopped again.
func (r *Relay) Start() error {
	r.mu.Lock()
	rt := r.router.Load()
	r.started = time.Now()
	for _, l := range rt.listeners {
		if err := l.bind(); err != nil {
			r.mu.Unlock()
			_ = r.Shutdown(context.Background())
			return err
		}
	}
	if rt.cfg.Admin.Listen != "" {
		a, err := startAdmin(r, rt.cfg.Admin)
		if err != nil {
			r.mu.Unlock()
			_ = r.Shutdown(context.Background())
			return err
		}
		r.admin = a
	}
	if rt.cfg.Admin.MetricsListen != "" {
		m, err := startMetricsListener(r, rt.cfg.Admin)
		if err != nil {
			r.mu.Unlock()
			_ = r.Shutdown(context.Background())
			return err
		}
		r.metricsLn = m
	}
	if rt.cfg.GraphiteAPI.Listen != "" {
		a, err := startGraphiteAPIListener(r, rt.cfg)
		if err != nil {
			r.mu.Unlock()
			_ = r.Shutdown(context.Background())
			return err
		}
		r.apiLn = a
	}
	defer r.mu.Unlock()
	if rt.cfg.ZooKeeper.Enabled() && !r.noBackends {
		d, err := discovery.New(discovery.Options{ZooKeeper: rt.cfg.ZooKeeper, Logger: r.log, Metrics: r.metrics.Discovery})
		if err != nil {
			return fmt.Errorf("failed to set up zookeeper discovery: %w", err)
		}
		r.discMu.Lock()
		r.discovery = d
		r.discMu.Unlock()
		var waits []*Pool
		for _, name := range rt.poolNames {
			if p := rt.pools[name]; r.watch(d, p) {
				waits = append(waits, p)
			}
		}
		// Start does not wait for ZooKeeper and fails only on a client it
		// cannot build; the pools then keep their saved or static servers,
		// so the relay runs on and says so.
		if err := d.Start(); err != nil {
			r.log.Error("zookeeper discovery not started; pools stay on their saved or static servers", zap.Error(err))
		} else {
			r.waitSynced(waits, rt.cfg.ZooKeeper.StartWait.Duration)
		}
	}
	for _, a := range rt.aggs {
		a.start()
	}
	for _, l := range rt.listeners {
		l.serve()
	}
	r.running = true
	r.metrics.reloadSuccess.SetToCurrentTime()
	return nil
}

// Reload applies cfg to the running relay without a restart. A config
// that does not validate, or whose new listener or admin address cannot be
// bound, is refused as a whole and the running one stays (the error says
// why). It returns the changes it made, for the log.
func (r *Relay) Reload(cfg Config) ([]string, error) {
	start := time.Now()
	changes, err := r.reload(cfg)
	if err != nil {
		r.metrics.reloaded(err)
		return nil, err
	}
	r.metrics.reloaded(nil)
	r.metrics.reloadSuccess.SetToCurrentTime()
	r.metrics.reloadDuration.Set(time.Since(start).Seconds())
	r.log.Info("config reloaded", zap.Strings("changes", changes), zap.Duration("took", time.Since(start)))
	return changes, nil
}

// ReloadFailed counts a reload refused before it reached Reload (a file
// that does not parse), err saying why.
func (r *Relay) ReloadFailed(err error) { r.metrics.reloaded(err) }

func (r *Relay) reload(cfg Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || !r.running {
		return nil, errors.New("failed to reload: the relay is not running")
	}
	pl, err := r.prepare(cfg)
	if err != nil {
		return nil, err
	}
	changes := r.commit(pl)
	if len(changes) == 0 {
		changes = []string{"nothing changed"}
	}
	return changes, nil
}

// ListenerAddr returns the bound address of the named listener (nil if it
// is unknown or not started).
func (r *Relay) ListenerAddr(name string) net.Addr {
	for _, l := range r.router.Load().listeners {
		if l.cfg().Name == name && (l.ln != nil || l.pc != nil) {
			return l.Addr()
		}
	}
	return nil
}

// AdminAddr is the bound admin address (nil when disabled).
func (r *Relay) AdminAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.admin == nil {
		return nil
	}
	return r.admin.ln.Addr()
}

// Pool returns the named pool of the running config, or nil.
func (r *Relay) Pool(name string) *Pool { return r.router.Load().pools[name] }

// currentDiscovery is the ZooKeeper discovery running now (nil without).
func (r *Relay) currentDiscovery() *discovery.Discovery {
	r.discMu.Lock()
	defer r.discMu.Unlock()
	return r.discovery
}

// Registry is where the relay's metrics are registered.
func (r *Relay) Registry() *prometheus.Registry { return r.reg }

// Shutdown stops the relay in data-flow order: listeners stop (every line
// already read is routed), discovery stops, backend queues drain until ctx is
// done or the configured shutdown timeout passes, whichever is first; lines
// still queued then are counted as dropped (shutdown). Then the admin
// endpoint closes. Safe to call more than once.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.stopped = true
		start := time.Now()
		rt := r.router.Load()
		for _, l := range r.listeners {
			l.stop(ctx)
		}
		// What the aggregators accumulated is flushed before the queues
		// drain.
		for _, a := range r.aggs {
			a.stop(r.running)
		}
		// Then the sinks they flushed into write what they hold.
		r.closeSinks(slices.Collect(maps.Values(r.sinks)))
		if r.discovery != nil {
			r.discovery.Close()
		}
		r.metrics.Backend.KeepSeries() // for the final log line and scrape
		dctx, cancel := context.WithTimeout(ctx, rt.cfg.ShutdownTimeout.Duration)
		context.AfterFunc(dctx, r.retireEnd)
		var wg sync.WaitGroup
		for _, p := range r.pools {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.close(dctx, backend.ReasonShutdown)
			}()
		}
		wg.Wait()
		r.retiring.Wait()
		cancel()
		// The admin API stayed up until here, so a scrape during the drain
		// sees the counts settle; this line has them all, final.
		r.log.Info("relay stopped", append([]zap.Field{zap.Duration("took", time.Since(start))}, lossSummary(r.reg)...)...)
		if r.beforeAdminClose != nil {
			r.beforeAdminClose()
		}
		if r.admin != nil {
			r.admin.close()
		}
		if r.metricsLn != nil {
			r.metricsLn.close()
		}
		if r.apiLn != nil {
			r.apiLn.close()
		}
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown deadline passed: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
