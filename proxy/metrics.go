package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"ringrelay/discovery"
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
	poolRebuilds *prometheus.CounterVec
	poolErrors   *prometheus.CounterVec
	idleClosed   *prometheus.CounterVec

	reloads        *prometheus.CounterVec
	reloadSuccess  prometheus.Gauge
	reloadDuration prometheus.Gauge

	// Backend are the per-backend series, shared by every pool.
	Backend *backend.Metrics
	// Discovery are the membership and ZooKeeper series.
	Discovery *discovery.Metrics
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
	}
	reg.MustRegister(m.linesIn, m.invalid, m.rejected, m.connections, m.routed,
		m.poolDropped, m.poolMembers, m.poolRebuilds, m.poolErrors, m.idleClosed,
		m.reloads, m.reloadSuccess, m.reloadDuration)
	// Both results exist from the start, so a first failure is a change
	// an alert can see.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m
}

type listenerMetrics struct {
	in          prometheus.Counter
	rejected    prometheus.Counter
	connections prometheus.Counter
	idleClosed  prometheus.Counter
	invalid     [256]prometheus.Counter // by line.Reason
}

func (m *Metrics) listener(name string) *listenerMetrics {
	lm := &listenerMetrics{
		in:          m.linesIn.WithLabelValues(name),
		rejected:    m.rejected.WithLabelValues(name),
		connections: m.connections.WithLabelValues(name),
		idleClosed:  m.idleClosed.WithLabelValues(name),
	}
	for _, r := range line.Reasons() {
		lm.invalid[r] = m.invalid.WithLabelValues(name, r.String())
	}
	return lm
}

type poolMetrics struct {
	routed        prometheus.Counter
	noMembers     prometheus.Counter
	members       prometheus.Gauge
	rebuilds      prometheus.Counter
	rebuildErrors prometheus.Counter
}

func (m *Metrics) pool(name string) *poolMetrics {
	return &poolMetrics{
		routed:        m.routed.WithLabelValues(name),
		noMembers:     m.poolDropped.WithLabelValues(name, "no_members"),
		members:       m.poolMembers.WithLabelValues(name),
		rebuilds:      m.poolRebuilds.WithLabelValues(name),
		rebuildErrors: m.poolErrors.WithLabelValues(name),
	}
}
