package discovery

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// Member is what the member znode announces: status ALIVE, or
	// StatusDrained while drained (see Drain).
	Member MemberData
	// MaintenanceFile, when set, drains the member while the file exists
	// (polled before each check): a deploy script can take a backend out
	// of rings without ZooKeeper access.
	MaintenanceFile string
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
	drained              prometheus.Gauge
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
		drained: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "drained", Help: "1 while a drain marker or the maintenance file drains the member (announced " + StatusDrained + " when healthy), else 0."}),
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
			m.drained, m.zkConnected, m.zkExpirations, m.zkReplacements)
	}
	return m
}

// RegistrarStatus is a Registrar's state.
type RegistrarStatus struct {
	Healthy bool
	// Drained is true while a drain marker or the maintenance file drains
	// the member.
	Drained bool
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
//   - While drained (a drain marker for its host:port, or the maintenance
//     file) a healthy backend's member is announced with StatusDrained; a
//     change of drain state creates the new member before deleting the old.
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
	cfg     RegistrarConfig
	data    []byte // announced while not drained (ALIVE)
	drained []byte // announced while drained (StatusDrained)
	marker  string // the drain marker's path
	log     *zap.Logger
	met     *RegistrarMetrics
	acl     []zk.ACL

	health Health
	kick   chan struct{}
	// sessionUp dedupes the connect/disconnect log lines of the client's
	// session events (written on the client's goroutines).
	sessionUp atomic.Bool
	// markerEvent is set by the client's goroutines on an event of the
	// drain marker (see watchMarker).
	markerEvent atomic.Bool

	// owned by Run's goroutine
	zk        *zkClient
	conn      *zk.Conn // zk's current client, refreshed by reconcile
	lastSID   int64
	authed    bool
	connected bool
	node      string // our member, created in nodeSID with nodeData
	nodeSID   int64
	nodeData  []byte
	uncertain map[int64]bool // sessions in which a create may have happened unseen
	lastCheck checkResult
	// drain state: the marker as last seen through markerWatch (armed on
	// markerConn), the maintenance file as last polled
	markerWatch <-chan zk.Event
	markerConn  *zk.Conn
	markerOn    bool
	maintOn     bool

	mu sync.Mutex
	st RegistrarStatus
}

// checkResult is the last check's outcome, for logging transitions.
type checkResult int

const (
	checkNone checkResult = iota
	checkPassed
	checkFailed
)

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
	drained, err := cfg.Member.MarshalWithStatus(StatusDrained)
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
		cfg:     cfg,
		data:    data,
		drained: drained,
		marker:  DrainMarkerPath(cfg.Path, cfg.Member.ServiceEndpoint),
		log:     cfg.Logger.Named("registrar").With(zap.String("path", cfg.Path)),
		met:     cfg.Metrics,
		acl:     cfg.ZooKeeper.memberACL(),
		health:  Health{Rise: cfg.Rise, Fall: cfg.Fall},
		kick:    make(chan struct{}, 1),
	}, nil
}

// Data is the member znode's data while not drained.
func (r *Registrar) Data() []byte { return slices.Clone(r.data) }

// DrainedData is the member znode's data while drained.
func (r *Registrar) DrainedData() []byte { return slices.Clone(r.drained) }

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
		OnEvent: func(ev zk.Event) {
			r.logSessionEvent(ev)
			if ev.Path == r.marker {
				r.markerEvent.Store(true)
			}
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
	fields := []zap.Field{zap.String("check", r.cfg.Check.String()), zap.Inline(loggedData(r.data)),
		zap.Duration("interval", r.cfg.Interval), zap.Duration("timeout", r.cfg.Timeout),
		zap.Int("rise", r.cfg.Rise), zap.Int("fall", r.cfg.Fall), zap.String("drain_marker", r.marker)}
	if r.cfg.MaintenanceFile != "" {
		fields = append(fields, zap.String("maintenance_file", r.cfg.MaintenanceFile))
	}
	r.log.Info("starting", fields...)
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	r.pollMaintenance()
	r.checkOnce(ctx)
	r.reconcile()
	for {
		select {
		case <-ctx.Done():
			r.leave()
			return nil
		case <-r.kick:
		case <-tick.C:
			r.pollMaintenance()
			r.checkOnce(ctx)
		}
		if ctx.Err() == nil {
			r.reconcile()
		}
	}
}

// logSessionEvent logs the client's session changes: every connect, every
// loss of a connection that had a session, every expiry. It runs on the
// client's goroutines.
func (r *Registrar) logSessionEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		if !r.sessionUp.Swap(true) {
			r.log.Info("zookeeper connected", zap.String("server", ev.Server))
		}
	case zk.StateDisconnected:
		if r.sessionUp.Swap(false) {
			r.log.Info("zookeeper disconnected; the member stays until the session expires", zap.String("server", ev.Server))
		}
	case zk.StateExpired:
		r.sessionUp.Store(false)
		r.log.Info("zookeeper session expired; its member is gone, a new session follows", zap.String("server", ev.Server))
	case zk.StateAuthFailed:
		r.log.Warn("zookeeper authentication failed", zap.String("server", ev.Server))
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
	r.logCheckTransition(err)
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
			r.log.Info("rise reached: backend healthy", zap.Int("rise", r.cfg.Rise))
		} else {
			r.log.Warn("fall reached: backend unhealthy", zap.Int("fall", r.cfg.Fall), zap.Error(err))
		}
	}
}

// logCheckTransition logs the first check's result and every change from
// pass to fail and back (rise and fall are logged by checkOnce).
func (r *Registrar) logCheckTransition(err error) {
	now := checkPassed
	if err != nil {
		now = checkFailed
	}
	if now == r.lastCheck {
		return
	}
	first := r.lastCheck == checkNone
	r.lastCheck = now
	switch {
	case now == checkPassed && first:
		r.log.Info("first check passed", zap.String("check", r.cfg.Check.String()), zap.Int("rise", r.cfg.Rise))
	case now == checkPassed:
		r.log.Info("check passing again", zap.String("check", r.cfg.Check.String()), zap.Int("rise", r.cfg.Rise))
	case first:
		r.log.Info("first check failed", zap.String("check", r.cfg.Check.String()), zap.Int("rise", r.cfg.Rise), zap.Error(err))
	default:
		r.log.Info("check failing", zap.String("check", r.cfg.Check.String()), zap.Int("fall", r.cfg.Fall), zap.Error(err))
	}
}

// pollMaintenance reads whether the maintenance file exists. A file that
// cannot be checked (permissions) keeps the last state, with a warning.
func (r *Registrar) pollMaintenance() {
	if r.cfg.MaintenanceFile == "" {
		return
	}
	_, err := os.Stat(r.cfg.MaintenanceFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("failed to check the maintenance file; keeping the drain state", zap.String("maintenance_file", r.cfg.MaintenanceFile),
			zap.Bool("drained", r.maintOn), zap.Error(err))
		return
	}
	if on := err == nil; on != r.maintOn {
		r.maintOn = on
		if on {
			r.log.Info("maintenance file present: draining the member", zap.String("maintenance_file", r.cfg.MaintenanceFile))
		} else {
			r.log.Info("maintenance file gone: undraining the member", zap.String("maintenance_file", r.cfg.MaintenanceFile))
		}
		r.publishDrained()
	}
}

// watchMarker learns whether the drain marker exists. It keeps one exists
// watch armed on the marker (a new one only after the last fired or the
// client was replaced), so a drain reaches the registrar as an event and
// no request is sent per check. The client calls OnEvent (our kick) just
// before it fills the watch's channel, so the kick also sets markerEvent:
// a kick that finds the channel still empty looks again all the same.
// Errors keep the last known state.
func (r *Registrar) watchMarker() {
	if r.markerWatch != nil && r.markerConn == r.conn && !r.markerEvent.Swap(false) {
		select {
		case <-r.markerWatch: // fired (or was lost with the session): look again
		default:
			return
		}
	}
	on, _, watch, err := r.conn.ExistsW(r.marker)
	if err != nil {
		r.markerWatch = nil
		r.log.Warn("failed to watch the drain marker; will retry", zap.String("drain_marker", r.marker), zap.Error(err))
		return
	}
	r.markerWatch, r.markerConn = watch, r.conn
	if on != r.markerOn {
		r.markerOn = on
		if on {
			r.log.Info("drain marker present: draining the member", zap.String("drain_marker", r.marker))
		} else {
			r.log.Info("drain marker gone: undraining the member", zap.String("drain_marker", r.marker))
		}
		r.publishDrained()
	}
}

func (r *Registrar) isDrained() bool { return r.markerOn || r.maintOn }

func (r *Registrar) publishDrained() {
	d := r.isDrained()
	r.met.drained.Set(map[bool]float64{true: 1}[d])
	r.mu.Lock()
	r.st.Drained = d
	r.mu.Unlock()
}

// wanted is the data our member should have now, nil for no member.
func (r *Registrar) wanted() []byte {
	switch {
	case !r.health.Healthy():
		return nil
	case r.isDrained():
		return r.drained
	}
	return r.data
}

// reconcile makes ZooKeeper match the health and drain state; it does
// nothing while there is no session (and sends no request then: see
// errNotConnected), and retries on the next tick after errors.
func (r *Registrar) reconcile() {
	if r.zk.MaybeReplace(time.Now()) {
		// Not an expiry seen by us; the new client needs the credentials.
		r.lastSID, r.authed = 0, false
	}
	r.conn = r.zk.Conn()
	sid := r.conn.SessionID()
	ready, settle := r.zk.Ready(time.Now())
	if settle > 0 {
		// Just connected: no request yet (see settleTime); it is short.
		time.Sleep(settle)
		ready, _ = r.zk.Ready(time.Now())
		sid = r.conn.SessionID()
	}
	up := ready == r.conn && ready != nil && sid != 0
	if up != r.connected {
		r.connected = up
		r.met.zkConnected.Set(map[bool]float64{true: 1}[up])
	}
	if !up {
		return
	}
	if sid != r.lastSID {
		if r.lastSID != 0 {
			r.met.zkExpirations.Inc()
		}
		r.log.Info("zookeeper session", zap.String("session", sessionHex(sid)), zap.String("old_session", sessionHex(r.lastSID)),
			zap.String("server", r.conn.Server()))
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
		r.setNode("", 0, nil)
	}
	for u := range r.uncertain {
		if u != sid {
			delete(r.uncertain, u) // leftovers of an ended session vanish with it
		}
	}
	defer r.publish(sid)
	r.watchMarker()
	want := r.wanted()
	if r.node != "" && want != nil {
		ok, stat, err := r.conn.Exists(r.node)
		if err != nil {
			return
		}
		if !ok || stat.EphemeralOwner != sid {
			r.log.Warn("member vanished or is not ours; re-joining", zap.String("member", r.node))
			r.setNode("", 0, nil)
		}
	}
	if r.uncertain[sid] {
		if err := r.sweep(sid, want); err != nil {
			return
		}
		delete(r.uncertain, sid)
	}
	switch {
	case want == nil:
		if r.node != "" && r.deleteNode(r.node) {
			r.met.deregistrations.Inc()
			r.setNode("", 0, nil)
		}
	case r.node == "":
		r.create(sid, want)
	case !bytes.Equal(r.nodeData, want):
		// Drained or undrained: the new member first, so the address never
		// leaves a listing, then the old one.
		old := r.node
		if r.create(sid, want) && !r.deleteNode(old) {
			r.markUncertain(sid) // the next sweep deletes it
		}
	}
}

// deleteNode deletes member p (gone already counts as deleted) and
// reports whether it is gone.
func (r *Registrar) deleteNode(p string) bool {
	err := r.conn.Delete(p, -1)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		r.log.Warn("failed to delete member; will retry", zap.String("member", p), zap.Error(err))
		return false
	}
	r.log.Info("member deleted", zap.String("member", p))
	return true
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

// create creates a member with data and reports whether it did (and made
// it the current one).
func (r *Registrar) create(sid int64, data []byte) bool {
	prefix := path.Join(r.cfg.Path, MemberPrefix)
	p, err := r.conn.Create(prefix, data, zk.FlagEphemeralSequential, r.acl)
	if errors.Is(err, zk.ErrNoNode) {
		if err = ensurePath(r.conn, r.cfg.Path); err == nil {
			p, err = r.conn.Create(prefix, data, zk.FlagEphemeralSequential, r.acl)
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
		return false
	}
	// Learn the owner from the server rather than assuming the session: a
	// request queued while disconnected runs in whatever session follows.
	ok, stat, err := r.conn.Exists(p)
	if err != nil || !ok {
		r.markUncertain(sid)
		r.log.Warn("created member but could not confirm its owner; will check", zap.String("member", p), zap.Error(err))
		return false
	}
	if cur := r.conn.SessionID(); stat.EphemeralOwner != cur {
		r.log.Warn("created member in a session that has ended; it will vanish", zap.String("member", p),
			zap.String("owner", sessionHex(stat.EphemeralOwner)), zap.String("session", sessionHex(cur)))
		return false
	}
	sid = stat.EphemeralOwner
	r.setNode(p, sid, data)
	r.met.registrations.Inc()
	r.log.Info("member created", zap.String("member", p), zap.String("session", sessionHex(sid)),
		zap.String("status", r.statusOf(data)))
	return true
}

// statusOf names the status data announces.
func (r *Registrar) statusOf(data []byte) string {
	if bytes.Equal(data, r.drained) {
		return StatusDrained
	}
	return StatusAlive
}

// sweep scans the serverset for members owned by session sid holding our
// data (drained or not). When there is no current member and want is not
// nil, the oldest holding want is adopted; every other one except the
// current member is deleted.
func (r *Registrar) sweep(sid int64, want []byte) error {
	children, _, err := r.conn.Children(r.cfg.Path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	slices.SortFunc(children, func(a, b string) int { return cmp.Compare(memberSeq(a), memberSeq(b)) })
	for _, name := range children {
		p := path.Join(r.cfg.Path, name)
		if !IsMemberName(name) || p == r.node {
			continue
		}
		data, stat, err := r.conn.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return err
		}
		if stat.EphemeralOwner != sid || (!bytes.Equal(data, r.data) && !bytes.Equal(data, r.drained)) {
			continue
		}
		if r.node == "" && want != nil && bytes.Equal(data, want) {
			r.setNode(p, sid, data)
			r.met.registrations.Inc()
			r.log.Info("adopted member created before a connection loss", zap.String("member", p))
			continue
		}
		if err := r.conn.Delete(p, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		r.log.Info("deleted extra member of this session", zap.String("member", p))
	}
	return nil
}

func (r *Registrar) setNode(p string, sid int64, data []byte) {
	r.node, r.nodeSID, r.nodeData = p, sid, data
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
	r.setNode("", 0, nil)
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
