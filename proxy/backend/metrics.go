package backend

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"

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
	// ReasonUnacked: written to the connection, but not acknowledged by the
	// peer's TCP when the writer gave up on it (Close's ctx done); the
	// connection is reset, so they are not delivered.
	ReasonUnacked = "unacknowledged"
	// ReasonGlobalQueueFull: the relay-wide Budget could not take the batch
	// (the backend's own queue could).
	ReasonGlobalQueueFull = "global_queue_full"
)

// Defaults of what Metrics keeps of departed backends.
const (
	// DefaultDepartedRetention is how long the non-zero drop counters of a
	// backend that is gone stay exported, so the last scrapes see the loss.
	DefaultDepartedRetention = 15 * time.Minute
	// DefaultMaxDeparted bounds the drop counter series of departed
	// backends kept at once (the oldest go first).
	DefaultMaxDeparted = 1000
)

// Metrics are the Prometheus vectors every backend of the relay reports
// into, labelled by pool and backend. Create them once per registry with
// NewMetrics and share them between all backends (and across reloads).
//
// Several live Backends may report into one pool+backend series (a backend
// and its replacement overlap during a reload): the series are refcounted,
// and ringrelay_backend_up is 1 while at least one of them is connected.
//
// When the last of them is closed its series are deleted, except its drop
// counters that counted something: they stay for the departed retention
// (DefaultDepartedRetention), then are deleted; at most DefaultMaxDeparted
// such series are kept, the oldest deleted first. Expiry is lazy: on bind,
// release, each scrape (Collect) and ExpireDeparted.
type Metrics struct {
	linesSent     *prometheus.CounterVec
	linesRequeued *prometheus.CounterVec
	bytesSent     *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	queueBytes    *prometheus.GaugeVec
	queueLines    *prometheus.GaugeVec
	up            *prometheus.GaugeVec
	reconnects    *prometheus.CounterVec
	writeErrors   *prometheus.CounterVec
	dialErrors    *prometheus.CounterVec
	writes        *prometheus.CounterVec
	globalBytes   prometheus.GaugeFunc
	globalLimit   prometheus.GaugeFunc

	budget atomic.Pointer[Budget] // exported by globalBytes and globalLimit

	// mu guards everything below and orders the writes to the up gauges
	// and the deletion of series.
	mu   sync.Mutex
	keep bool // KeepSeries: nothing is deleted any more
	// live holds the pool+backend series that live Backends report into.
	live map[[2]string]*liveSeries
	// departed lists the kept drop counters of pool+backends with no live
	// Backend, least recently touched first; departedIdx indexes it.
	departed       list.List // of *departedSeries
	departedIdx    map[[2]string]*list.Element
	departedSeries int // drop counter series in departed
	retention      time.Duration
	maxDeparted    int
	now            func() time.Time // time.Now; tests set it
}

// liveSeries is the shared state of one pool+backend series.
type liveSeries struct {
	refs    int                           // live Backends bound to it
	conns   int                           // of those, how many are connected
	up      prometheus.Gauge              // 1 iff conns > 0
	dropped map[string]prometheus.Counter // drop counters bound, by reason
}

// departedSeries is the drop counters of a pool+backend that has no live
// Backend any more, kept until at+retention.
type departedSeries struct {
	key     [2]string
	reasons map[string]struct{}
	at      time.Time
}

// NewMetrics creates the backend metrics and registers them with reg (nil:
// not registered, as in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lb := []string{"pool", "backend"}
	m := &Metrics{
		linesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_lines_sent_total",
			Help: "Lines sent to the backend: acknowledged by its TCP (on Linux; elsewhere, and for UDP and unix sockets, written).",
		}, lb),
		linesRequeued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_lines_requeued_total",
			Help: "Lines written to a connection that failed before the backend acknowledged them, queued again to be resent.",
		}, lb),
		bytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_bytes_sent_total",
			Help: "Bytes written to the backend's connection (bytes resent after a failed write count again).",
		}, lb),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringrelay_backend_lines_dropped_total",
			Help: "Lines for the backend that were not sent, by reason (queue_full, global_queue_full, shutdown, backend_gone, write_error, unacknowledged). Kept for a while after the backend is gone.",
		}, []string{"pool", "backend", "reason"}),
		queueBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_backend_queue_bytes",
			Help: "Bytes queued for the backend, including the batch being written and the bytes written but not yet acknowledged.",
		}, lb),
		queueLines: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_backend_queue_lines",
			Help: "Lines queued for the backend, including the batch being written and the lines written but not yet acknowledged.",
		}, lb),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringrelay_backend_up",
			Help: "1 while the backend has a connection and is not stalled (write timeouts in a row: it does not read), else 0.",
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
		live:        map[[2]string]*liveSeries{},
		departedIdx: map[[2]string]*list.Element{},
		retention:   DefaultDepartedRetention,
		maxDeparted: DefaultMaxDeparted,
		now:         time.Now,
	}
	m.globalBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ringrelay_backend_queue_global_bytes",
		Help: "Bytes queued over all backends, counted against the global queue bound (0 without one).",
	}, func() float64 {
		if g := m.budget.Load(); g != nil {
			return float64(g.Used())
		}
		return 0
	})
	m.globalLimit = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ringrelay_backend_queue_global_limit_bytes",
		Help: "The global bound on bytes queued over all backends (0: unlimited).",
	}, func() float64 {
		if g := m.budget.Load(); g != nil {
			return float64(g.Limit())
		}
		return 0
	})
	if reg != nil {
		reg.MustRegister(m.linesSent, m.linesRequeued, m.bytesSent, droppedCollector{m}, m.queueBytes, m.queueLines, m.up,
			m.reconnects, m.writeErrors, m.dialErrors, m.writes, m.globalBytes, m.globalLimit)
	}
	return m
}

// droppedCollector exports the drop counters, expiring the departed ones
// first so that a scrape never sees one past its retention.
type droppedCollector struct{ m *Metrics }

func (c droppedCollector) Describe(ch chan<- *prometheus.Desc) { c.m.dropped.Describe(ch) }

func (c droppedCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.ExpireDeparted()
	c.m.dropped.Collect(ch)
}

// SetDepartedRetention sets how long the non-zero drop counters of a
// departed backend stay exported (default DefaultDepartedRetention; <= 0:
// deleted at the next expiry).
func (m *Metrics) SetDepartedRetention(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retention = d
	m.expireLocked()
}

// SetMaxDeparted sets how many drop counter series of departed backends
// are kept at most (default DefaultMaxDeparted); past it the oldest are
// deleted.
func (m *Metrics) SetMaxDeparted(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maxDeparted = max(n, 0)
	m.expireLocked()
}

// ExpireDeparted deletes the drop counters of departed backends that are
// past their retention or over the cap. Scrapes call it; the relay may too.
func (m *Metrics) ExpireDeparted() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
}

func (m *Metrics) expireLocked() {
	now := m.now()
	for e := m.departed.Front(); e != nil; e = m.departed.Front() {
		d := e.Value.(*departedSeries)
		if m.departedSeries <= m.maxDeparted && now.Before(d.at.Add(m.retention)) {
			return
		}
		m.forgetLocked(e)
		for reason := range d.reasons {
			m.dropped.DeleteLabelValues(d.key[0], d.key[1], reason)
		}
	}
}

// forgetLocked removes e from departed (its series stay).
func (m *Metrics) forgetLocked(e *list.Element) *departedSeries {
	d := m.departed.Remove(e).(*departedSeries)
	delete(m.departedIdx, d.key)
	m.departedSeries -= len(d.reasons)
	return d
}

// departLocked records that the drop counter of key and reason is kept for
// a departed backend, from now on.
func (m *Metrics) departLocked(key [2]string, reason string) {
	e := m.departedIdx[key]
	if e == nil {
		e = m.departed.PushBack(&departedSeries{key: key, reasons: map[string]struct{}{}})
		m.departedIdx[key] = e
	} else {
		m.departed.MoveToBack(e)
	}
	d := e.Value.(*departedSeries)
	if _, ok := d.reasons[reason]; !ok {
		d.reasons[reason] = struct{}{}
		m.departedSeries++
	}
	d.at = m.now()
}

// series is one backend's bound metrics.
type series struct {
	key           [2]string
	linesSent     prometheus.Counter
	linesRequeued prometheus.Counter
	bytesSent     prometheus.Counter
	queueBytes    prometheus.Gauge
	queueLines    prometheus.Gauge
	reconnects    prometheus.Counter
	writeErrors   prometheus.Counter
	dialErrors    prometheus.Counter
	writes        prometheus.Counter
}

// bind binds the series of pool+backend and takes a reference on them.
func (m *Metrics) bind(pool, backend string) *series {
	key := [2]string{pool, backend}
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := m.live[key]
	if ls == nil {
		ls = &liveSeries{up: m.up.WithLabelValues(pool, backend), dropped: map[string]prometheus.Counter{}}
		m.live[key] = ls
		if e := m.departedIdx[key]; e != nil {
			// Back again: its kept drop counters are live ones again.
			for reason := range m.forgetLocked(e).reasons {
				ls.dropped[reason] = m.dropped.WithLabelValues(pool, backend, reason)
			}
		}
	}
	ls.refs++
	m.expireLocked()
	return &series{
		key:           key,
		linesSent:     m.linesSent.WithLabelValues(pool, backend),
		linesRequeued: m.linesRequeued.WithLabelValues(pool, backend),
		bytesSent:     m.bytesSent.WithLabelValues(pool, backend),
		queueBytes:    m.queueBytes.WithLabelValues(pool, backend),
		queueLines:    m.queueLines.WithLabelValues(pool, backend),
		reconnects:    m.reconnects.WithLabelValues(pool, backend),
		writeErrors:   m.writeErrors.WithLabelValues(pool, backend),
		dialErrors:    m.dialErrors.WithLabelValues(pool, backend),
		writes:        m.writes.WithLabelValues(pool, backend),
	}
}

// setUp records that one Backend bound to s connected (true) or lost its
// connection (false), and sets ringrelay_backend_up from how many are
// connected. Call it between bind and release.
func (m *Metrics) setUp(s *series, up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := m.live[s.key]
	if up {
		ls.conns++
	} else {
		ls.conns--
	}
	if ls.conns > 0 {
		ls.up.Set(1)
	} else {
		ls.up.Set(0)
	}
}

// droppedCounter binds the drop counter of one reason. Call it before
// release.
func (m *Metrics) droppedCounter(s *series, reason string) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.dropped.WithLabelValues(s.key[0], s.key[1], reason)
	m.live[s.key].dropped[reason] = c
	return c
}

// lateDrop counts lines dropped by a closed backend, whose series release
// may have deleted: it adds to the series registered now (re-creating it if
// need be), so the loss shows on /metrics whenever it happens; with no live
// backend it keeps the series for the departed retention from now.
func (m *Metrics) lateDrop(s *series, reason string, lines int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.dropped.WithLabelValues(s.key[0], s.key[1], reason)
	c.Add(float64(lines))
	if ls := m.live[s.key]; ls != nil {
		ls.dropped[reason] = c
		return
	}
	m.departLocked(s.key, reason)
	m.expireLocked()
}

// release drops a reference taken by bind and deletes the series when no
// live backend reports into them any more, except drop counters that
// counted something: those are the record of the loss (backend_gone is
// counted just before release), so they stay to be scraped for the
// departed retention.
// KeepSeries makes release keep every series from now on: the process is
// stopping, and its last scrape (and final log line) must see what every
// backend sent and lost.
func (m *Metrics) KeepSeries() {
	m.mu.Lock()
	m.keep = true
	m.mu.Unlock()
}

func (m *Metrics) release(s *series) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := m.live[s.key]
	if ls.refs--; ls.refs > 0 || m.keep {
		return
	}
	delete(m.live, s.key)
	pool, backend := s.key[0], s.key[1]
	for _, v := range []*prometheus.CounterVec{m.linesSent, m.linesRequeued, m.bytesSent, m.reconnects, m.writeErrors, m.dialErrors, m.writes} {
		v.DeleteLabelValues(pool, backend)
	}
	m.queueBytes.DeleteLabelValues(pool, backend)
	m.queueLines.DeleteLabelValues(pool, backend)
	m.up.DeleteLabelValues(pool, backend)
	for reason, c := range ls.dropped {
		var d dto.Metric
		if err := c.Write(&d); err == nil && d.GetCounter().GetValue() == 0 {
			m.dropped.DeleteLabelValues(pool, backend, reason)
		} else {
			m.departLocked(s.key, reason)
		}
	}
	m.expireLocked()
}
