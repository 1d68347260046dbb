package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// RegistrarConfig configures a Registrar.
type RegistrarConfig struct {
	// ZooKeeper: Servers, SessionTimeout and Auth are used.
	ZooKeeper ZooKeeperConfig
	// Path is the serverset path, e.g. /discovery/prod/carbon-cache.
	Path string
	// Member is what the member znode announces (status is always ALIVE).
	Member MemberData
	// Check is the backend's health check.
	Check Checker
	// Interval between checks (default 1s) and Timeout of one check
	// (default min(500ms, Interval/2)); Timeout must be below Interval.
	Interval, Timeout time.Duration
	// Rise passes in a row register the member (default 2); Fall failures
	// in a row remove it (default 3).
	Rise, Fall int
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// Metrics; nil means unregistered ones.
	Metrics *RegistrarMetrics
}

func (c *RegistrarConfig) setDefaults() {
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = min(500*time.Millisecond, c.Interval/2)
	}
	if c.Rise == 0 {
		c.Rise = 2
	}
	if c.Fall == 0 {
		c.Fall = 3
	}
	if c.ZooKeeper.SessionTimeout.Duration == 0 {
		c.ZooKeeper.SessionTimeout = DefaultZooKeeperConfig().SessionTimeout
	}
	if c.ZooKeeper.MaxConcurrentGets == 0 {
		c.ZooKeeper.MaxConcurrentGets = 1
	}
}

// Validate checks the configuration (after defaults are filled in).
func (c RegistrarConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if !c.ZooKeeper.Enabled() {
		errs = append(errs, errors.New("no zookeeper servers"))
	}
	if err := c.ZooKeeper.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := (PoolConfig{Serverset: c.Path}).Validate(); err != nil || c.Path == "" {
		errs = append(errs, fmt.Errorf("path %q: want an absolute ZooKeeper path such as /discovery/prod/carbon", c.Path))
	}
	if _, err := c.Member.Marshal(); err != nil {
		errs = append(errs, err)
	}
	if c.Check == nil {
		errs = append(errs, errors.New("no health check"))
	}
	if c.Interval <= 0 || c.Timeout <= 0 || c.Timeout >= c.Interval {
		errs = append(errs, fmt.Errorf("check timeout %s must be positive and below the interval %s", c.Timeout, c.Interval))
	}
	if c.Rise < 1 || c.Fall < 1 {
		errs = append(errs, fmt.Errorf("rise %d and fall %d must be at least 1", c.Rise, c.Fall))
	}
	return errors.Join(errs...)
}

// RegistrarMetrics are serverset-register's metrics.
type RegistrarMetrics struct {
	checkPass, checkFail prometheus.Counter
	checkSeconds         prometheus.Histogram
	healthy, registered  prometheus.Gauge
	registrations        prometheus.Counter
	deregistrations      prometheus.Counter
	zkConnected          prometheus.Gauge
	zkExpirations        prometheus.Counter
	zkReplacements       prometheus.Counter
}

// NewRegistrarMetrics creates the registrar metrics and registers them with
// reg (nil registers nothing).
func NewRegistrarMetrics(reg prometheus.Registerer) *RegistrarMetrics {
	const ns, sub = "ringrelay", "register"
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
		Name: "checks_total", Help: "Health checks by result (pass, fail)."}, []string{"result"})
	m := &RegistrarMetrics{
		checkPass: checks.WithLabelValues("pass"),
		checkFail: checks.WithLabelValues("fail"),
		checkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "check_duration_seconds", Help: "Time a health check took.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "healthy", Help: "1 while the backend is healthy by rise/fall, else 0."}),
		registered: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "registered", Help: "1 while a member znode of the current session exists, else 0."}),
		registrations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "registrations_total", Help: "Member znodes created."}),
		deregistrations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "deregistrations_total", Help: "Member znodes deleted because the backend became unhealthy or on shutdown."}),
		zkConnected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "zookeeper_connected", Help: "1 while connected with a session, else 0."}),
		zkExpirations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "zookeeper_session_expirations_total", Help: "ZooKeeper session expiries seen."}),
		zkReplacements: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "zookeeper_client_replacements_total",
			Help: "ZooKeeper clients replaced by a new one (new session, last zxid forgotten) after failing to get a session for 2x the session timeout while servers refused or ignored its handshakes (e.g. a server restarted with an empty data dir)."}),
	}
	if reg != nil {
		reg.MustRegister(checks, m.checkSeconds, m.healthy, m.registered, m.registrations, m.deregistrations,
			m.zkConnected, m.zkExpirations, m.zkReplacements)
	}
	return m
}

// RegistrarStatus is a Registrar's state.
type RegistrarStatus struct {
	Healthy bool
	// Node is the member znode path while registered.
	Node string
	// SessionID is the current ZooKeeper session (0 without one).
	SessionID int64
	// LastCheckError is the last failed check's error ("" after a pass).
	LastCheckError string
}

// Registrar keeps exactly one serverset member for a backend while its
// health check passes (spec P1-P5, E1-E3):
//   - Rise passes in a row register; Fall failures in a row delete the
//     member; healthy again means a new member (member data is immutable).
//   - Connection loss within the session changes nothing.
//   - After session expiry a new session is opened by the client and, if
//     healthy, exactly one new member is created; the old member belongs to
//     the old session and is never reused.
//   - A create that failed with a connection error may still have happened,
//     so before the next create (or while unhealthy) the children are
//     scanned and a member with our data owned by our session is adopted,
//     extra ones deleted (Finagle Group.hasJoined).
//   - A member deleted by someone else is re-created.
//   - A client that cannot get a session (a server restarted with an
//     empty data dir refuses its zxid) is replaced by a new one (see
//     zkClient); its member is then created anew in the new session.
//
// All ZooKeeper work happens on Run's goroutine.
type Registrar struct {
	cfg  RegistrarConfig
	data []byte
	log  *zap.Logger
	met  *RegistrarMetrics
	acl  []zk.ACL

	health Health
	kick   chan struct{}

	// owned by Run's goroutine
	zk        *zkClient
	conn      *zk.Conn // zk's current client, refreshed by reconcile
	lastSID   int64
	authed    bool
	connected bool
	node      string // our member, created in nodeSID
	nodeSID   int64
	uncertain map[int64]bool // sessions in which a create may have happened unseen

	mu sync.Mutex
	st RegistrarStatus
}

// NewRegistrar checks cfg and returns a Registrar; Run starts it.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("failed to configure registrar: %w", err)
	}
	data, err := cfg.Member.Marshal()
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewRegistrarMetrics(nil)
	}
	return &Registrar{
		cfg:    cfg,
		data:   data,
		log:    cfg.Logger.Named("registrar").With(zap.String("path", cfg.Path)),
		met:    cfg.Metrics,
		acl:    cfg.ZooKeeper.memberACL(),
		health: Health{Rise: cfg.Rise, Fall: cfg.Fall},
		kick:   make(chan struct{}, 1),
	}, nil
}

// Data is the member znode's data.
func (r *Registrar) Data() []byte { return slices.Clone(r.data) }

// Status returns the registrar's state.
func (r *Registrar) Status() RegistrarStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Run checks the backend and keeps the member until ctx is done; then it
// deletes the member, closes the session and returns nil. It returns an
// error only when it cannot start.
func (r *Registrar) Run(ctx context.Context) error {
	client, err := newZKClient(zkClientConfig{
		Servers:        r.cfg.ZooKeeper.Servers,
		SessionTimeout: r.cfg.ZooKeeper.SessionTimeout.Duration,
		Log:            r.log,
		Replacements:   r.met.zkReplacements,
		OnEvent: func(zk.Event) {
			select {
			case r.kick <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("failed to connect to zookeeper %q: %w", strings.Join(r.cfg.ZooKeeper.Servers, ","), err)
	}
	r.zk, r.conn = client, client.Conn()
	r.log.Info("starting", zap.String("check", r.cfg.Check.String()), zap.Inline(loggedData(r.data)),
		zap.Duration("interval", r.cfg.Interval), zap.Duration("timeout", r.cfg.Timeout),
		zap.Int("rise", r.cfg.Rise), zap.Int("fall", r.cfg.Fall))
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	r.checkOnce(ctx)
	r.reconcile()
	for {
		select {
		case <-ctx.Done():
			r.leave()
			return nil
		case <-r.kick:
		case <-tick.C:
			r.checkOnce(ctx)
		}
		if ctx.Err() == nil {
			r.reconcile()
		}
	}
}

func (r *Registrar) checkOnce(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	start := time.Now()
	err := r.cfg.Check.Check(cctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: not the backend's fault
	}
	r.met.checkSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		r.met.checkFail.Inc()
	} else {
		r.met.checkPass.Inc()
	}
	healthy, changed := r.health.Observe(err == nil)
	r.mu.Lock()
	r.st.Healthy = healthy
	r.st.LastCheckError = ""
	if err != nil {
		r.st.LastCheckError = err.Error()
	}
	r.mu.Unlock()
	if changed {
		r.met.healthy.Set(map[bool]float64{true: 1}[healthy])
		if healthy {
			r.log.Info("backend healthy", zap.Int("rise", r.cfg.Rise))
		} else {
			r.log.Warn("backend unhealthy", zap.Int("fall", r.cfg.Fall), zap.Error(err))
		}
	}
}

// reconcile makes ZooKeeper match the health state; it does nothing while
// there is no session (and sends no request then: see errNotConnected),
// and retries on the next tick after errors.
func (r *Registrar) reconcile() {
	if r.zk.MaybeReplace(time.Now()) {
		// Not an expiry seen by us; the new client needs the credentials.
		r.lastSID, r.authed = 0, false
	}
	r.conn = r.zk.Conn()
	state, sid := r.conn.State(), r.conn.SessionID()
	ready, settle := r.zk.Ready(time.Now())
	if settle > 0 {
		// Just connected: no request yet (see settleTime); it is short.
		time.Sleep(settle)
		ready, _ = r.zk.Ready(time.Now())
		state, sid = r.conn.State(), r.conn.SessionID()
	}
	up := ready == r.conn && ready != nil && sid != 0
	if up != r.connected {
		r.connected = up
		r.met.zkConnected.Set(map[bool]float64{true: 1}[up])
		if up {
			r.log.Info("zookeeper connected", zap.String("server", r.conn.Server()), zap.String("session", sessionHex(sid)))
		} else {
			r.log.Warn("zookeeper disconnected; keeping the member until the session expires", zap.String("state", state.String()))
		}
	}
	if !up {
		return
	}
	if sid != r.lastSID {
		if r.lastSID != 0 {
			r.met.zkExpirations.Inc()
			r.log.Warn("zookeeper session expired; new session", zap.String("old_session", sessionHex(r.lastSID)),
				zap.String("session", sessionHex(sid)))
		}
		r.lastSID = sid
	}
	// Once added, the client itself re-sends the credentials on every
	// connection (before any request), new sessions included.
	if !r.authed && r.cfg.ZooKeeper.Auth != "" {
		if err := r.conn.AddAuth("digest", []byte(r.cfg.ZooKeeper.Auth)); err != nil {
			r.log.Warn("failed to authenticate to zookeeper", zap.Error(err))
			return
		}
	}
	r.authed = true
	if r.node != "" && r.nodeSID != sid {
		// E3: it belonged to the expired session and is (or will be) gone.
		r.log.Info("member belonged to the expired session", zap.String("member", r.node))
		r.setNode("", 0)
	}
	for u := range r.uncertain {
		if u != sid {
			delete(r.uncertain, u) // leftovers of an ended session vanish with it
		}
	}
	defer r.publish(sid)
	if !r.health.Healthy() {
		if r.node != "" {
			err := r.conn.Delete(r.node, -1)
			if err != nil && !errors.Is(err, zk.ErrNoNode) {
				r.log.Warn("failed to delete member; will retry", zap.String("member", r.node), zap.Error(err))
				return
			}
			r.log.Info("member deleted", zap.String("member", r.node))
			r.met.deregistrations.Inc()
			r.setNode("", 0)
		}
		if r.uncertain[sid] {
			if _, err := r.adopt(sid, false); err == nil {
				delete(r.uncertain, sid)
			}
		}
		return
	}
	if r.node != "" {
		ok, stat, err := r.conn.Exists(r.node)
		if err != nil {
			return
		}
		if ok && stat.EphemeralOwner == sid {
			return
		}
		r.log.Warn("member vanished or is not ours; re-joining", zap.String("member", r.node))
		r.setNode("", 0)
	}
	if r.uncertain[sid] {
		found, err := r.adopt(sid, true)
		if err != nil {
			return
		}
		delete(r.uncertain, sid)
		if found {
			return
		}
	}
	r.create(sid)
}

// markUncertain records that a create may have happened unseen in sid or
// in the session the client has now.
func (r *Registrar) markUncertain(sid int64) {
	if r.uncertain == nil {
		r.uncertain = map[int64]bool{}
	}
	r.uncertain[sid] = true
	if cur := r.conn.SessionID(); cur != 0 {
		r.uncertain[cur] = true
	}
}

func (r *Registrar) create(sid int64) {
	prefix := path.Join(r.cfg.Path, MemberPrefix)
	p, err := r.conn.Create(prefix, r.data, zk.FlagEphemeralSequential, r.acl)
	if errors.Is(err, zk.ErrNoNode) {
		if err = ensurePath(r.conn, r.cfg.Path); err == nil {
			p, err = r.conn.Create(prefix, r.data, zk.FlagEphemeralSequential, r.acl)
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrInvalidACL), errors.Is(err, zk.ErrNoChildrenForEphemerals):
		default:
			// The create may have reached the server, in the session it
			// started in or (queued while disconnected) in the next one.
			r.markUncertain(sid)
		}
		r.log.Warn("failed to create member; will retry", zap.Error(err))
		return
	}
	// Learn the owner from the server rather than assuming the session: a
	// request queued while disconnected runs in whatever session follows.
	ok, stat, err := r.conn.Exists(p)
	if err != nil || !ok {
		r.markUncertain(sid)
		r.log.Warn("created member but could not confirm its owner; will check", zap.String("member", p), zap.Error(err))
		return
	}
	if cur := r.conn.SessionID(); stat.EphemeralOwner != cur {
		r.log.Warn("created member in a session that has ended; it will vanish", zap.String("member", p),
			zap.String("owner", sessionHex(stat.EphemeralOwner)), zap.String("session", sessionHex(cur)))
		return
	}
	sid = stat.EphemeralOwner
	r.setNode(p, sid)
	r.met.registrations.Inc()
	r.log.Info("member created", zap.String("member", p), zap.String("session", sessionHex(sid)))
}

// adopt scans the serverset for members with our data owned by session
// sid. With keep, the oldest is adopted and the others deleted; without,
// all are deleted. It reports whether one was adopted.
func (r *Registrar) adopt(sid int64, keep bool) (bool, error) {
	children, _, err := r.conn.Children(r.cfg.Path)
	if errors.Is(err, zk.ErrNoNode) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	slices.SortFunc(children, func(a, b string) int { return strings.Compare(a, b) })
	found := false
	for _, name := range children {
		if !IsMemberName(name) {
			continue
		}
		p := path.Join(r.cfg.Path, name)
		data, stat, err := r.conn.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return false, err
		}
		if stat.EphemeralOwner != sid || !bytes.Equal(data, r.data) {
			continue
		}
		if keep && !found {
			found = true
			r.setNode(p, sid)
			r.met.registrations.Inc()
			r.log.Info("adopted member created before a connection loss", zap.String("member", p))
			continue
		}
		if err := r.conn.Delete(p, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return false, err
		}
		r.log.Info("deleted extra member of this session", zap.String("member", p))
	}
	return found, nil
}

func (r *Registrar) setNode(p string, sid int64) {
	r.node, r.nodeSID = p, sid
	r.met.registered.Set(map[bool]float64{true: 1}[p != ""])
}

func (r *Registrar) publish(sid int64) {
	r.mu.Lock()
	r.st.Node, r.st.SessionID = r.node, sid
	r.mu.Unlock()
}

// leave deletes the member (bounded in time) and closes the session, which
// removes every ephemeral node of it anyway.
func (r *Registrar) leave() {
	if r.node != "" && r.conn.State() == zk.StateHasSession {
		done := make(chan error, 1)
		node := r.node
		go func() { done <- r.conn.Delete(node, -1) }()
		timer := time.NewTimer(2 * time.Second)
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, zk.ErrNoNode) {
				r.log.Warn("failed to delete member on shutdown; closing the session removes it", zap.Error(err))
			} else {
				r.met.deregistrations.Inc()
				r.log.Info("member deleted on shutdown", zap.String("member", node))
			}
			r.zk.Close()
		case <-timer.C:
			r.log.Warn("deleting member on shutdown timed out; closing the session removes it")
			r.zk.Close()
			<-done // Close fails the request still in flight
		}
		timer.Stop()
	} else {
		r.zk.Close()
	}
	r.setNode("", 0)
	r.publish(0)
	r.met.zkConnected.Set(0)
}

// ensurePath creates p and its parents as persistent nodes with open ACLs
// (Finagle's ensurePath), tolerating ones that exist.
func ensurePath(conn *zk.Conn, p string) error {
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		cur += "/" + part
		_, err := conn.Create(cur, nil, 0, zk.WorldACL(zk.PermAll))
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("failed to create %q: %w", cur, err)
		}
	}
	return nil
}
