package backend

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Reasons a line is dropped, the values of the reason label of
// ringrelay_backend_lines_dropped_total.
const (
	// ReasonQueueFull: the backend's queue could not take the batch.
	ReasonQueueFull = "queue_full"
	// ReasonShutdown: enqueued after Close, or still queued when Close gave up.
	ReasonShutdown = "shutdown"
	// ReasonBackendGone: the backend left the ring (CloseReason with it).
	ReasonBackendGone = "backend_gone"
	// ReasonWriteError: the backend refused the bytes for good (a UDP line
	// too big for any datagram). Connection failures never drop: the lines
	// stay queued and are resent.
	ReasonWriteError = "write_error"
)

// Metrics are the Prometheus vectors every backend of the relay reports
// into, labelled by pool and backend. Create them once per registry with
// NewMetrics and share them between all backends (and across reloads).
type Metrics struct {
	linesSent   *prometheus.CounterVec
	bytesSent   *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	queueBytes  *prometheus.GaugeVec
	up          *prometheus.GaugeVec
	reconnects  *prometheus.CounterVec
	writeErrors *prometheus.CounterVec
	dialErrors  *prometheus.CounterVec
	writes      *prometheus.CounterVec

	// mu guards refs: how many live Backends report into each pool+backend
	// series, so that a backend closing while its replacement (same server)
	// already runs does not delete the replacement's series.
	mu   sync.Mutex
	refs map[[2]string]int
}

// NewMetrics creates the backend metrics and registers them with reg (nil:
// not registered, as in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lb := []string{"pool", "backend"}
	m := &Metrics{
		linesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_lines_sent_total",
			Help: "Lines written to the backend's connection.",
		}, lb),
		bytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_bytes_sent_total",
			Help: "Bytes written to the backend's connection (a line torn by a failed write counts again when resent).",
		}, lb),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_lines_dropped_total",
			Help: "Lines for the backend that were not sent, by reason (queue_full, shutdown, backend_gone, write_error).",
		}, []string{"pool", "backend", "reason"}),
		queueBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_backend_queue_bytes",
			Help: "Bytes queued for the backend, including the batch being written.",
		}, lb),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_backend_up",
			Help: "1 while the backend has a connection, else 0.",
		}, lb),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_reconnects_total",
			Help: "Connection attempts after the first one (after a failed dial, write or a peer close).",
		}, lb),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_write_errors_total",
			Help: "Writes that failed (the connection is then closed and the batch resent).",
		}, lb),
		dialErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_dial_errors_total",
			Help: "Connection attempts that failed.",
		}, lb),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_writes_total",
			Help: "Write calls (TCP/unix writes or UDP datagrams) made to the backend.",
		}, lb),
		refs: map[[2]string]int{},
	}
	if reg != nil {
		reg.MustRegister(m.linesSent, m.bytesSent, m.dropped, m.queueBytes, m.up,
			m.reconnects, m.writeErrors, m.dialErrors, m.writes)
	}
	return m
}

// series is one backend's bound metrics.
type series struct {
	key         [2]string
	linesSent   prometheus.Counter
	bytesSent   prometheus.Counter
	queueBytes  prometheus.Gauge
	up          prometheus.Gauge
	reconnects  prometheus.Counter
	writeErrors prometheus.Counter
	dialErrors  prometheus.Counter
	writes      prometheus.Counter
	dropped     map[string]prometheus.Counter // by reason; guarded by Metrics.mu
}

// bind binds the series of pool+backend and takes a reference on them.
func (m *Metrics) bind(pool, backend string) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refs[[2]string{pool, backend}]++
	return &series{
		key:         [2]string{pool, backend},
		linesSent:   m.linesSent.WithLabelValues(pool, backend),
		bytesSent:   m.bytesSent.WithLabelValues(pool, backend),
		queueBytes:  m.queueBytes.WithLabelValues(pool, backend),
		up:          m.up.WithLabelValues(pool, backend),
		reconnects:  m.reconnects.WithLabelValues(pool, backend),
		writeErrors: m.writeErrors.WithLabelValues(pool, backend),
		dialErrors:  m.dialErrors.WithLabelValues(pool, backend),
		writes:      m.writes.WithLabelValues(pool, backend),
		dropped:     map[string]prometheus.Counter{},
	}
}

// droppedCounter binds the drop counter of one reason. Call it before
// release.
func (m *Metrics) droppedCounter(s *series, reason string) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.dropped.WithLabelValues(s.key[0], s.key[1], reason)
	s.dropped[reason] = c
	return c
}

// lateDrop counts lines dropped by a closed backend, whose series release
// may have deleted: it adds to the series registered now (re-creating it if
// need be), so the loss shows on /metrics whenever it happens.
func (m *Metrics) lateDrop(s *series, reason string, lines int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropped.WithLabelValues(s.key[0], s.key[1], reason).Add(float64(lines))
}

// release drops a reference taken by bind and deletes the series when no
// live backend reports into them any more, except drop counters that
// counted something: those are the record of the loss (backend_gone is
// counted just before release), so they stay to be scraped.
func (m *Metrics) release(s *series) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refs[s.key]--
	if m.refs[s.key] > 0 {
		return
	}
	delete(m.refs, s.key)
	pool, backend := s.key[0], s.key[1]
	for _, v := range []*prometheus.CounterVec{m.linesSent, m.bytesSent, m.reconnects, m.writeErrors, m.dialErrors, m.writes} {
		v.DeleteLabelValues(pool, backend)
	}
	m.queueBytes.DeleteLabelValues(pool, backend)
	m.up.DeleteLabelValues(pool, backend)
	for reason, c := range s.dropped {
		var d dto.Metric
		if err := c.Write(&d); err == nil && d.GetCounter().GetValue() == 0 {
			m.dropped.DeleteLabelValues(pool, backend, reason)
		}
	}
}
