package proxy

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ringrelay/discovery"
	"ringrelay/internal/buildinfo"
	"ringrelay/proxy/backend"
	"ringrelay/proxy/line"
)

// Metrics are the relay's Prometheus series. They are created once per relay
// and registered on the registry it is given; labels are bound when a
// listener or pool is built, never per line.
type Metrics struct {
	linesIn      *prometheus.CounterVec
	invalid      *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	connections  *prometheus.CounterVec
	routed       *prometheus.CounterVec
	poolDropped  *prometheus.CounterVec
	poolMembers  *prometheus.GaugeVec
	poolShort    *prometheus.GaugeVec
	poolRebuilds *prometheus.CounterVec
	poolErrors   *prometheus.CounterVec
	idleClosed   *prometheus.CounterVec
	refused      *prometheus.CounterVec
	unread       *prometheus.CounterVec

	aggEmitted  *prometheus.CounterVec
	aggFlushes  *prometheus.CounterVec
	aggFlushDur *prometheus.GaugeVec
	aggDropped  *prometheus.CounterVec

	reloads        *prometheus.CounterVec
	reloadSuccess  prometheus.Gauge
	reloadDuration prometheus.Gauge
	// lastReload is the last reload's outcome (nil before one), for the
	// status page.
	lastReload atomic.Pointer[reloadOutcome]

	// Backend are the per-backend series, shared by every pool.
	Backend *backend.Metrics
	// Discovery are the membership and ZooKeeper series.
	Discovery *discovery.Metrics
	// admin are the admin listeners' errors (admin_metrics.go).
	admin *adminMetrics
}

// NewMetrics creates the relay's series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		linesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_listener_lines_received_total",
			Help: "Lines read by a listener, valid or not.",
		}, []string{"listener"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_listener_lines_invalid_total",
			Help: "Lines a listener dropped as malformed, by reason.",
		}, []string{"listener", "reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_listener_lines_rejected_total",
			Help: "Lines dropped by a reject rule.",
		}, []string{"listener"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_listener_connections_total",
			Help: "Connections (or HTTP requests) accepted by a listener.",
		}, []string{"listener"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_pool_lines_routed_total",
			Help: "Line copies handed to a pool's backend queues (replication counts each copy).",
		}, []string{"pool"}),
		poolDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_pool_lines_dropped_total",
			Help: "Lines a pool could not place, by reason (no_members).",
		}, []string{"pool", "reason"}),
		poolMembers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_pool_ring_members",
			Help: "Members of a pool's current ring.",
		}, []string{"pool"}),
		poolShort: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_pool_replication_shortfall",
			Help: "Replicas a pool's lines miss: its replication minus its live ring members, when above (0: every line gets all its copies).",
		}, []string{"pool"}),
		poolRebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_pool_ring_rebuilds_total",
			Help: "Rings built and swapped in for a pool.",
		}, []string{"pool"}),
		poolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_pool_ring_rebuild_errors_total",
			Help: "Membership changes whose ring could not be built (the previous ring was kept).",
		}, []string{"pool"}),
		idleClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_listener_idle_closed_total",
			Help: "Client connections a listener closed after idle_timeout without a line.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_listener_connections_refused_total",
			Help: "Client connections (or HTTP requests) closed at once because max_connections were open.",
		}, []string{"listener"}),
		unread: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_listener_unread_bytes_total",
			Help: "Bytes a stopping listener left unread: still in the kernel after it read for a second, or a line whose end never came.",
		}, []string{"listener"}),
		aggEmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_aggregator_lines_emitted_total",
			Help: "Lines an aggregator's flushes produced (each is sent to every output pool).",
		}, []string{"aggregator"}),
		aggFlushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_aggregator_flushes_total",
			Help: "Flushes an aggregator made.",
		}, []string{"aggregator"}),
		aggFlushDur: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_aggregator_flush_duration_seconds",
			Help: "How long an aggregator's last flush took (ingestion goes on meanwhile).",
		}, []string{"aggregator"}),
		aggDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_aggregator_lines_dropped_total",
			Help: "Lines for an aggregator that a reload removed after its final flush, by reason (removed).",
		}, []string{"aggregator", "reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_config_reloads_total",
			Help: "Config reloads (SIGHUP), by result: success, or failure (the running config stayed).",
		}, []string{"result"}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ringrelay_config_last_reload_success_timestamp_seconds",
			Help: "Unix time the running config was applied (start or last successful reload).",
		}),
		reloadDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ringrelay_config_last_reload_duration_seconds",
			Help: "How long the last successful reload took, from the new config to the swapped router.",
		}),
		Backend:   backend.NewMetrics(reg),
		Discovery: discovery.NewMetrics(reg),
		admin:     newAdminMetrics(reg),
	}
	reg.MustRegister(m.linesIn, m.invalid, m.rejected, m.connections, m.routed,
		m.poolDropped, m.poolMembers, m.poolShort, m.poolRebuilds, m.poolErrors, m.idleClosed, m.refused, m.unread,
		m.reloads, m.reloadSuccess, m.reloadDuration, m.aggEmitted, m.aggFlushes, m.aggFlushDur, m.aggDropped)
	// Both results exist from the start, so a first failure is a change
	// an alert can see.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	bi := buildinfo.Read()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "ringrelay_build_info",
		Help:        "Always 1; the labels say which build runs (version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.RevisionLabel(), "goversion": bi.GoVersion},
	}, func() float64 { return 1 }))
	return m
}

// reloadOutcome is when a reload was tried and why it failed (nil: it
// succeeded).
type reloadOutcome struct {
	At  time.Time
	Err error
}

// reloaded counts a reload by its result and remembers it.
func (m *Metrics) reloaded(err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.reloads.WithLabelValues(result).Inc()
	m.lastReload.Store(&reloadOutcome{At: time.Now(), Err: err})
}

type listenerMetrics struct {
	in          prometheus.Counter
	rejected    prometheus.Counter
	connections prometheus.Counter
	idleClosed  prometheus.Counter
	refused     prometheus.Counter
	unread      prometheus.Counter
	invalid     [256]prometheus.Counter // by line.Reason
}

// listener returns the series of the listener name, which reads lines of
// format: invalid-line series are made for the reasons the format can
// produce only (line.FormatReasons); the others count nowhere, as no line
// of that format is refused for them.
func (m *Metrics) listener(name, format string) *listenerMetrics {
	lm := &listenerMetrics{
		in:          m.linesIn.WithLabelValues(name),
		rejected:    m.rejected.WithLabelValues(name),
		connections: m.connections.WithLabelValues(name),
		idleClosed:  m.idleClosed.WithLabelValues(name),
		refused:     m.refused.WithLabelValues(name),
		unread:      m.unread.WithLabelValues(name),
	}
	for _, r := range line.Reasons() {
		lm.invalid[r] = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"})
	}
	for _, r := range line.FormatReasons(format) {
		lm.invalid[r] = m.invalid.WithLabelValues(name, r.String())
	}
	return lm
}

type poolMetrics struct {
	routed        prometheus.Counter
	noMembers     prometheus.Counter
	members       prometheus.Gauge
	shortfall     prometheus.Gauge
	rebuilds      prometheus.Counter
	rebuildErrors prometheus.Counter
}

func (m *Metrics) pool(name string) *poolMetrics {
	return &poolMetrics{
		routed:        m.routed.WithLabelValues(name),
		noMembers:     m.poolDropped.WithLabelValues(name, "no_members"),
		members:       m.poolMembers.WithLabelValues(name),
		shortfall:     m.poolShort.WithLabelValues(name),
		rebuilds:      m.poolRebuilds.WithLabelValues(name),
		rebuildErrors: m.poolErrors.WithLabelValues(name),
	}
}

func (m *Metrics) aggregator(name string) *aggMetrics {
	return &aggMetrics{
		emitted:      m.aggEmitted.WithLabelValues(name),
		flushes:      m.aggFlushes.WithLabelValues(name),
		flushSeconds: m.aggFlushDur.WithLabelValues(name),
		dropped:      m.aggDropped.WithLabelValues(name, "removed"),
	}
}

// internalListenerMetrics are the (unregistered) listener counters of the
// routes an aggregator's flushes take to its output pools: what they
// count is reported as the aggregator's emitted lines, and by the pools.
var internalListenerMetrics = func() *listenerMetrics {
	c := func() prometheus.Counter { return prometheus.NewCounter(prometheus.CounterOpts{Name: "internal"}) }
	lm := &listenerMetrics{in: c(), rejected: c(), connections: c(), idleClosed: c(), refused: c(), unread: c()}
	for _, r := range line.Reasons() {
		lm.invalid[r] = c()
	}
	return lm
}()
