package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"ringrelay/discovery"
	"ringrelay/proxy/backend"
	"ringrelay/proxy/line"
)

// admin is one of the operator's HTTP listeners: the admin API
// ([admin] listen) or the metrics-only one ([admin] metrics_listen). The
// relay binds and closes both as it does its data listeners.
type admin struct {
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup
}

// startAdmin binds [admin] listen and serves the admin API on it.
func startAdmin(r *Relay, cfg AdminConfig) (*admin, error) {
	if tok, err := cfg.readToken(); err == nil && tok == "" && !loopbackAddr(cfg.Listen) {
		r.log.Warn("the admin API takes changes from anyone who reaches it; set [admin] token or token_file",
			zap.String("addr", cfg.Listen))
	}
	return serveAdmin(r, "admin", cfg.Listen, r.adminHandler(), cfg)
}

// startMetricsListener binds [admin] metrics_listen and serves only GET
// /metrics and /ops/status on it.
func startMetricsListener(r *Relay, cfg AdminConfig) (*admin, error) {
	return serveAdmin(r, "admin metrics", cfg.MetricsListen, r.metricsHandler(), cfg)
}

func serveAdmin(r *Relay, what, addr string, h http.Handler, cfg AdminConfig) (*admin, error) {
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s address %q: %w", what, addr, err)
	}
	ln := newReserveListener(tl)
	readHeader, read := cfg.timeouts()
	m := r.metrics.admin
	a := &admin{ln: ln, srv: &http.Server{Handler: h,
		ReadHeaderTimeout: readHeader,
		ReadTimeout:       read,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
		ErrorLog:          stdlog.New(adminErrorLog{log: r.log.Named("admin"), m: m}, "", 0),
	}}
	r.log.Info(what+" listening", zap.String("addr", ln.Addr().String()))
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.accept.Inc()
			r.log.Error(what+" server failed", zap.Error(err))
		}
	}()
	return a, nil
}

// MetricsAddr is the bound [admin] metrics_listen address (nil when unset).
func (r *Relay) MetricsAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.metricsLn == nil {
		return nil
	}
	return r.metricsLn.ln.Addr()
}

func (a *admin) close() {
	_ = a.srv.Close()
	a.wg.Wait()
}

// adminHandler routes the admin API behind its guard (admin_guard.go). It
// is also usable without a socket (tests use httptest).
func (r *Relay) adminHandler() http.Handler {
	g := newAdminGuard(r, r.log.Named("admin"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", r.handleStatusPage)
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg}))
	mux.HandleFunc("GET /stats", r.handleStats)
	mux.HandleFunc("GET /{pool}/stats", r.handleStats)
	mux.HandleFunc("GET /ops/status", r.handleStatus)
	mux.HandleFunc("GET /{pool}/ops/status", r.handleStatus)
	mux.HandleFunc("GET /hashcheck", r.handleHashcheck)
	mux.HandleFunc("GET /pools", r.handlePools)
	mux.HandleFunc("POST /{pool}/addserver", r.handleAddServer)
	mux.HandleFunc("POST /{pool}/purgeserver", r.handlePurgeServer)
	mux.HandleFunc("DELETE /{pool}/overlay", r.handleClearOverlay)
	mux.Handle("/debug/pprof/", g.pprof(pprof.Index))
	mux.Handle("/debug/pprof/cmdline", g.pprof(pprof.Cmdline))
	mux.Handle("/debug/pprof/profile", g.pprof(pprof.Profile))
	mux.Handle("/debug/pprof/symbol", g.pprof(pprof.Symbol))
	mux.Handle("/debug/pprof/trace", g.pprof(pprof.Trace))
	return r.withGraphiteAPI(g.mutating(mux))
}

// metricsHandler is the metrics listener's: reads for scrapers and health
// checks, nothing that changes the relay; anything else is 404.
func (r *Relay) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg}))
	mux.HandleFunc("GET /ops/status", r.handleStatus)
	mux.HandleFunc("GET /{pool}/ops/status", r.handleStatus)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// poolFromPath resolves {pool}, answering 404 itself when it is unknown.
func (r *Relay) poolFromPath(w http.ResponseWriter, req *http.Request) (*Pool, bool) {
	name := req.PathValue("pool")
	if name == "" {
		return nil, true
	}
	p := r.router.Load().pools[name]
	if p == nil {
		httpError(w, http.StatusNotFound, "unknown pool %q", name)
		return nil, false
	}
	return p, true
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil || m.Counter == nil {
		return 0
	}
	return m.Counter.GetValue()
}

// ListenerStats is a listener's part of /stats.
type ListenerStats struct {
	Listen      string            `json:"listen"`
	Addr        string            `json:"addr,omitempty"`
	Format      string            `json:"format"`
	Pool        string            `json:"pool"`
	Received    uint64            `json:"received"`
	Rejected    uint64            `json:"rejected"`
	Invalid     map[string]uint64 `json:"invalid"`
	Connections uint64            `json:"connections"`
}

// PoolStats is a pool's part of /stats.
type PoolStats struct {
	Hasher    string          `json:"hasher"`
	Compat    string          `json:"compat"`
	Members   int             `json:"members"`
	Routed    uint64          `json:"routed"`
	NoMembers uint64          `json:"dropped_no_members"`
	Rebuilds  uint64          `json:"rebuilds"`
	RingBuilt time.Time       `json:"ring_built"`
	Backends  []backend.Stats `json:"backends"`
}

func (p *Pool) stats() PoolStats {
	st := p.state.Load()
	ps := PoolStats{
		Hasher:    st.cfg.Hasher,
		Compat:    st.cfg.Compat,
		Members:   len(st.servers),
		Routed:    uint64(counterValue(p.metrics.routed)),
		NoMembers: uint64(counterValue(p.metrics.noMembers)),
		Rebuilds:  uint64(counterValue(p.metrics.rebuilds)),
		RingBuilt: st.built,
		Backends:  []backend.Stats{},
	}
	for _, b := range st.distinctBackends() {
		ps.Backends = append(ps.Backends, b.Stats())
	}
	return ps
}

func (r *Relay) handleStats(w http.ResponseWriter, req *http.Request) {
	p, ok := r.poolFromPath(w, req)
	if !ok {
		return
	}
	if p != nil {
		writeJSON(w, http.StatusOK, p.stats())
		return
	}
	out := struct {
		Uptime    string                   `json:"uptime"`
		Listeners map[string]ListenerStats `json:"listeners"`
		Pools     map[string]PoolStats     `json:"pools"`
	}{Uptime: time.Since(r.started).Round(time.Second).String(), Listeners: map[string]ListenerStats{}, Pools: map[string]PoolStats{}}
	rt := r.router.Load()
	for _, l := range rt.listeners {
		name, ls := l.stats()
		out.Listeners[name] = ls
	}
	for _, name := range rt.poolNames {
		out.Pools[name] = rt.pools[name].stats()
	}
	writeJSON(w, http.StatusOK, out)
}

// stats is the listener's name and its part of /stats.
func (l *listener) stats() (string, ListenerStats) {
	ro := l.route.Load()
	m := ro.metrics
	ls := ListenerStats{
		Listen: ro.cfg.Listen, Format: ro.format.Name(), Pool: ro.cfg.Pool,
		Received:    uint64(counterValue(m.in)),
		Rejected:    uint64(counterValue(m.rejected)),
		Connections: uint64(counterValue(m.connections)),
		Invalid:     map[string]uint64{},
	}
	if l.ln != nil || l.pc != nil {
		ls.Addr = l.Addr().String()
	}
	for _, reason := range line.Reasons() {
		if v := counterValue(m.invalid[reason]); v > 0 {
			ls.Invalid[reason.String()] = uint64(v)
		}
	}
	return ro.cfg.Name, ls
}

// health says whether a pool can deliver: it has ring members and at least
// one of their backends is connected.
func (p *Pool) health() (bool, string) {
	st := p.state.Load()
	if st.ring == nil {
		return false, "no members"
	}
	up, stalled := 0, 0
	backends := st.distinctBackends()
	for _, b := range backends {
		bs := b.Stats()
		if bs.Up {
			up++
		}
		if bs.Stalled {
			stalled++
		}
	}
	why := fmt.Sprintf("%d of %d backends connected", up, len(backends))
	if stalled > 0 {
		why += fmt.Sprintf(" (degraded: %d connected but not reading)", stalled)
	}
	if up == 0 && !p.noBackends {
		return false, why
	}
	return true, why
}

// handleStatus answers 200 when every pool (or the named one) can deliver,
// 503 otherwise, for load balancers and checkers.
func (r *Relay) handleStatus(w http.ResponseWriter, req *http.Request) {
	p, ok := r.poolFromPath(w, req)
	if !ok {
		return
	}
	rt := r.router.Load()
	names := rt.poolNames
	if p != nil {
		names = []string{p.name}
	}
	code := http.StatusOK
	status := map[string]string{}
	for _, name := range names {
		healthy, why := rt.pools[name].health()
		if !healthy {
			code = http.StatusServiceUnavailable
			why = "FAIL: " + why
		} else {
			why = "OK: " + why
		}
		status[name] = why
	}
	writeJSON(w, code, map[string]any{"status": http.StatusText(code), "pools": status})
}

// HashcheckResult is one pool's answer in /hashcheck.
type HashcheckResult struct {
	Hasher  string   `json:"hasher"`
	Hash    uint64   `json:"hash"`
	Servers []string `json:"servers"`
}

func (r *Relay) handleHashcheck(w http.ResponseWriter, req *http.Request) {
	key := req.URL.Query().Get("key")
	if key == "" {
		httpError(w, http.StatusBadRequest, "missing query parameter key")
		return
	}
	out := map[string]HashcheckResult{}
	rt := r.router.Load()
	for _, name := range rt.poolNames {
		p := rt.pools[name]
		st, idx := p.lookup([]byte(key), nil)
		res := HashcheckResult{Hasher: st.cfg.Hasher, Servers: []string{}}
		if st.ring != nil {
			res.Hash = st.ring.Hash([]byte(key))
		}
		for _, i := range idx {
			res.Servers = append(res.Servers, st.servers[i].Display())
		}
		out[name] = res
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "pools": out})
}

// PoolMembers is a pool's part of /pools.
type PoolMembers struct {
	Hasher    string         `json:"hasher"`
	Serverset string         `json:"serverset,omitempty"`
	LastSync  *time.Time     `json:"last_sync,omitempty"`
	Members   []MemberStatus `json:"members"`
	// Reason says why the pool has no members (absent when it has some).
	Reason string `json:"reason,omitempty"`
	// ReplicationShortfall is how many copies each line misses because
	// the pool has fewer members than its replication.
	ReplicationShortfall int `json:"replication_shortfall,omitempty"`
	// Overlay is what was added and purged over HTTP, and when.
	Overlay OverlayView `json:"overlay"`
}

// MemberStatus is one member and where it came from.
type MemberStatus struct {
	Server string `json:"server"`
	Source string `json:"source"`
}

func (p *Pool) members() PoolMembers {
	st := p.state.Load()
	snap := st.snap
	pm := PoolMembers{Hasher: st.cfg.Hasher, Serverset: st.cfg.Serverset, Members: []MemberStatus{}}
	if !snap.LastSync.IsZero() {
		t := snap.LastSync
		pm.LastSync = &t
	}
	for _, m := range snap.Members {
		pm.Members = append(pm.Members, MemberStatus{Server: m.Display(), Source: string(m.Source)})
	}
	pm.Reason = snap.Reason
	pm.ReplicationShortfall = st.shortfall
	pm.Overlay = overlayView(p.Membership().Overlay())
	return pm
}

func (r *Relay) handlePools(w http.ResponseWriter, req *http.Request) {
	out := map[string]any{}
	pools := map[string]PoolMembers{}
	rt := r.router.Load()
	for _, name := range rt.poolNames {
		pools[name] = rt.pools[name].members()
	}
	out["pools"] = pools
	if d := r.currentDiscovery(); d != nil {
		out["zookeeper"] = d.Status()
	}
	writeJSON(w, http.StatusOK, out)
}

// serverFromForm reads the `server` and optional `instance` fields of the
// request body (a query string was refused by the guard already).
func serverFromForm(w http.ResponseWriter, req *http.Request) (discovery.Server, error) {
	req.Body = http.MaxBytesReader(w, req.Body, adminMaxForm)
	if err := req.ParseForm(); err != nil {
		return discovery.Server{}, fmt.Errorf("failed to parse form: %w", err)
	}
	raw := req.PostForm.Get("server")
	if raw == "" {
		return discovery.Server{}, errors.New("missing form field server (host:port) in the POST body (application/x-www-form-urlencoded)")
	}
	s, err := discovery.ParseServer(raw)
	if err != nil {
		return discovery.Server{}, err
	}
	inst := req.PostForm.Get("instance")
	if inst != "" {
		if s.Instance != "" && s.Instance != inst {
			return discovery.Server{}, fmt.Errorf("server %q has instance %q but instance field says %q", raw, s.Instance, inst)
		}
		withInst, err := discovery.ParseServer(raw + "=" + inst)
		if s.Instance == "" {
			if err != nil {
				return discovery.Server{}, fmt.Errorf("bad instance %q: %w", inst, err)
			}
			s = withInst
		}
	}
	return s, nil
}

// poolAndServer resolves {pool} and the server form fields of an
// add/purge request, answering 404 or 400 itself when they are bad.
func (r *Relay) poolAndServer(w http.ResponseWriter, req *http.Request) (*Pool, discovery.Server, bool) {
	p, ok := r.poolFromPath(w, req)
	if !ok {
		return nil, discovery.Server{}, false
	}
	s, err := serverFromForm(w, req)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return nil, discovery.Server{}, false
	}
	return p, s, true
}

func (r *Relay) handleAddServer(w http.ResponseWriter, req *http.Request) {
	p, s, ok := r.poolAndServer(w, req)
	if !ok {
		return
	}
	if err := p.checkMember(s); err != nil {
		httpError(w, http.StatusBadRequest, "failed to add server %q to pool %q: %v", s.Display(), p.name, err)
		return
	}
	p.Membership().Add(s)
	r.log.Info("server added over http", zap.String("pool", p.name), zap.String("server", s.Display()))
	writeJSON(w, http.StatusOK, p.members())
}

func (r *Relay) handlePurgeServer(w http.ResponseWriter, req *http.Request) {
	p, s, ok := r.poolAndServer(w, req)
	if !ok {
		return
	}
	// Without an instance, purge every member at that address.
	var found []discovery.Server
	for _, m := range p.Membership().Snapshot().Members {
		if m.Proto == s.Proto && m.Addr() == s.Addr() && (s.Instance == "" || s.Instance == m.Instance) {
			found = append(found, m.Server)
		}
	}
	if len(found) == 0 {
		httpError(w, http.StatusNotFound, "server %q is not a member of pool %q", s.Display(), p.name)
		return
	}
	for _, m := range found {
		p.Membership().Purge(m)
	}
	r.log.Info("server purged over http", zap.String("pool", p.name), zap.String("server", s.Display()))
	writeJSON(w, http.StatusOK, p.members())
}
