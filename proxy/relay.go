// Package proxy is the running relay: listeners, line routing, pre-routing
// rules, pools with their rings and backends, and the admin HTTP API. It
// builds all of it from a Config. Line parsing lives in proxy/line and
// outbound queues in proxy/backend; ring algorithms are hashring's and
// membership is discovery's.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"ringrelay/discovery"
	"ringrelay/proxy/line"
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

// Relay is one running relay. Start it, then Shutdown it.
type Relay struct {
	cfg     Config
	log     *zap.Logger
	reg     *prometheus.Registry
	metrics *Metrics

	pools     map[string]*Pool
	poolNames []string // sorted
	listeners []*listener
	discovery *discovery.Discovery // nil without [zookeeper]
	admin     *admin

	stopOnce sync.Once
	started  time.Time
}

// New builds a relay from a validated config: pools (with their backends,
// which start connecting at once) and listeners (not yet bound).
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
	r := &Relay{cfg: o.Config, log: log, reg: reg, metrics: NewMetrics(reg), pools: map[string]*Pool{}}
	r.cfg.fillDefaults()
	for name := range r.cfg.Pools {
		r.poolNames = append(r.poolNames, name)
	}
	sort.Strings(r.poolNames)
	for i, name := range r.poolNames {
		p, err := newPool(poolOptions{Name: name, Index: i, Config: r.cfg.Pools[name], Logger: log, Metrics: r.metrics, NoBackends: o.NoBackends})
		if err != nil {
			r.closePools(context.Background())
			return nil, fmt.Errorf("failed to build pool %q: %w", name, err)
		}
		r.pools[name] = p
	}
	for _, lc := range r.cfg.Listeners {
		rt, err := r.newRoute(lc)
		if err != nil {
			r.closePools(context.Background())
			return nil, err
		}
		l, err := newListener(lc, rt, log)
		if err != nil {
			r.closePools(context.Background())
			return nil, err
		}
		r.listeners = append(r.listeners, l)
	}
	if len(r.cfg.ZooKeeper.Servers) > 0 && !o.NoBackends {
		d, err := discovery.New(discovery.Options{ZooKeeper: r.cfg.ZooKeeper, Logger: log, Metrics: r.metrics.Discovery})
		if err != nil {
			r.closePools(context.Background())
			return nil, fmt.Errorf("failed to set up zookeeper discovery: %w", err)
		}
		r.discovery = d
		for _, name := range r.poolNames {
			p := r.pools[name]
			if p.cfg.Serverset != "" {
				d.Watch(name, p.cfg.PoolConfig, p.Membership)
			}
		}
	}
	return r, nil
}

// newRoute compiles a listener's format and rules.
func (r *Relay) newRoute(lc ListenerConfig) (*route, error) {
	f, err := line.NewFormat(lc.FormatConfig)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
	}
	rt := &route{
		listener: lc.Name,
		format:   f,
		pool:     r.pools[lc.Pool],
		metrics:  r.metrics.listener(lc.Name),
		npools:   len(r.poolNames),
		maxLine:  int(lc.MaxLine),
	}
	if rw, ok := f.(line.Rewriter); ok {
		rt.rewriter = rw
	}
	if kr, ok := f.(line.KeyRewriter); ok {
		rt.keyRewriter = kr
	}
	for _, rc := range r.cfg.Rules {
		if rc.Listener != lc.Name {
			continue
		}
		re, err := newMatcher(rc.Match)
		if err != nil {
			return nil, fmt.Errorf("rule for listener %q: bad regexp %q: %w", lc.Name, rc.Match, err)
		}
		ru := rule{re: re, reject: rc.Reject}
		if !rc.Reject {
			ru.pool = r.pools[rc.Pool]
		}
		rt.rules = append(rt.rules, ru)
	}
	return rt, nil
}

// Start binds every listener and the admin endpoint and starts discovery.
// On error, whatever was started is stopped again.
func (r *Relay) Start() error {
	r.started = time.Now()
	for _, l := range r.listeners {
		if err := l.start(); err != nil {
			_ = r.Shutdown(context.Background())
			return err
		}
	}
	if r.cfg.Admin.Listen != "" {
		a, err := startAdmin(r, r.cfg.Admin.Listen)
		if err != nil {
			_ = r.Shutdown(context.Background())
			return err
		}
		r.admin = a
	}
	if r.discovery != nil {
		// Start does not wait for ZooKeeper and fails only on a client it
		// cannot build; the pools then keep their static servers, so the
		// relay runs on and says so.
		if err := r.discovery.Start(); err != nil {
			r.log.Error("zookeeper discovery not started; pools stay on their static servers", zap.Error(err))
		}
	}
	return nil
}

// ListenerAddr returns the bound address of the named listener (nil if it
// is unknown or not started).
func (r *Relay) ListenerAddr(name string) net.Addr {
	for _, l := range r.listeners {
		if l.cfg.Name == name && (l.ln != nil || l.pc != nil) {
			return l.Addr()
		}
	}
	return nil
}

// AdminAddr is the bound admin address (nil when disabled).
func (r *Relay) AdminAddr() net.Addr {
	if r.admin == nil {
		return nil
	}
	return r.admin.ln.Addr()
}

// Pool returns the named pool, or nil.
func (r *Relay) Pool(name string) *Pool { return r.pools[name] }

// Registry is where the relay's metrics are registered.
func (r *Relay) Registry() *prometheus.Registry { return r.reg }

// Shutdown stops the relay in data-flow order: listeners stop (every line
// already read is routed), discovery stops, backend queues drain until ctx is
// done or the configured shutdown timeout passes, whichever is first; lines
// still queued then are counted as dropped (shutdown). Then the admin
// endpoint closes. Safe to call more than once.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		start := time.Now()
		for _, l := range r.listeners {
			l.stop(ctx)
		}
		if r.discovery != nil {
			r.discovery.Close()
		}
		dctx, cancel := context.WithTimeout(ctx, r.cfg.ShutdownTimeout.Duration)
		r.closePools(dctx)
		cancel()
		if r.admin != nil {
			r.admin.close()
		}
		r.log.Info("relay stopped", zap.Duration("took", time.Since(start)))
	})
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown deadline passed: %w", err)
	}
	return nil
}

func (r *Relay) closePools(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range r.pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close(ctx)
		}()
	}
	wg.Wait()
}
