package discovery

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay-side discovery metrics: ZooKeeper connection state,
// syncs and their age, members per pool and source, rebuilds, and member
// znodes skipped by reason. Create one with NewMetrics and share it between
// the Discovery and the pools' Memberships.
type Metrics struct {
	zkConnected    prometheus.Gauge
	zkSessions     prometheus.Counter
	zkExpirations  prometheus.Counter
	zkReplacements prometheus.Counter
	syncs          *prometheus.CounterVec
	syncSeconds    *prometheus.HistogramVec
	lastSync       *prometheus.GaugeVec
	members        *prometheus.GaugeVec
	rebuilds       *prometheus.CounterVec
	skipped        *prometheus.CounterVec

	ageDesc *prometheus.Desc
	mu      sync.Mutex
	synced  map[string]time.Time // pool -> last successful sync
}

// NewMetrics creates the discovery metrics and registers them with reg (nil
// registers nothing, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "ringrelay", "discovery"
	m := &Metrics{
		zkConnected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "zookeeper_connected", Help: "1 while the relay has a ZooKeeper session and a connection, else 0."}),
		zkSessions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "zookeeper_sessions_total", Help: "ZooKeeper sessions established (the first one and one after every expiry)."}),
		zkExpirations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "zookeeper_session_expirations_total", Help: "ZooKeeper session expiries seen."}),
		zkReplacements: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "zookeeper_client_replacements_total",
			Help: "ZooKeeper clients replaced by a new one (new session, last zxid forgotten) after failing to get a session for 2x the session timeout while servers refused or ignored its handshakes (e.g. a server restarted with an empty data dir)."}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "syncs_total", Help: "Full serverset syncs (list and read members) by pool and result (ok, error)."}, []string{"pool", "result"}),
		syncSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "sync_duration_seconds", Help: "Time a successful serverset sync took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"pool"}),
		lastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "last_sync_timestamp_seconds", Help: "Unix time of the pool's last successful serverset sync."}, []string{"pool"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "members", Help: "Members of the pool by source (zookeeper, zookeeper_cache, static, http)."}, []string{"pool", "source"}),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rebuilds_total", Help: "Membership changes published to the pool (each one rebuilds its ring)."}, []string{"pool"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "skipped_members_total", Help: "Member znodes that contributed nothing, by pool and reason, counted once per znode read."}, []string{"pool", "reason"}),
		ageDesc: prometheus.NewDesc(ns+"_"+sub+"_sync_age_seconds",
			"Seconds since the pool's last successful serverset sync (absent before the first).", []string{"pool"}, nil),
		synced: map[string]time.Time{},
	}
	if reg != nil {
		reg.MustRegister(m.zkConnected, m.zkSessions, m.zkExpirations, m.zkReplacements, m.syncs, m.syncSeconds,
			m.lastSync, m.members, m.rebuilds, m.skipped, ageCollector{m})
	}
	return m
}

// ageCollector computes sync ages at scrape time.
type ageCollector struct{ m *Metrics }

func (c ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.ageDesc }

func (c ageCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for pool, at := range c.m.synced {
		ch <- prometheus.MustNewConstMetric(c.m.ageDesc, prometheus.GaugeValue, time.Since(at).Seconds(), pool)
	}
}

// poolMetrics are one pool's watcher metrics, labels bound once.
type poolMetrics struct {
	pool            string
	m               *Metrics
	syncOK, syncErr prometheus.Counter
	syncSeconds     prometheus.Observer
	lastSync        prometheus.Gauge
	skipped         map[SkipReason]prometheus.Counter
}

func (m *Metrics) pool(pool string) *poolMetrics {
	pm := &poolMetrics{
		pool:        pool,
		m:           m,
		syncOK:      m.syncs.WithLabelValues(pool, "ok"),
		syncErr:     m.syncs.WithLabelValues(pool, "error"),
		syncSeconds: m.syncSeconds.WithLabelValues(pool),
		lastSync:    m.lastSync.WithLabelValues(pool),
		skipped:     map[SkipReason]prometheus.Counter{},
	}
	for _, r := range SkipReasons {
		pm.skipped[r] = m.skipped.WithLabelValues(pool, string(r))
	}
	return pm
}

func (pm *poolMetrics) synced(at time.Time, took time.Duration) {
	pm.syncOK.Inc()
	pm.syncSeconds.Observe(took.Seconds())
	pm.lastSync.Set(float64(at.UnixNano()) / 1e9)
	pm.m.mu.Lock()
	pm.m.synced[pm.pool] = at
	pm.m.mu.Unlock()
}

// membershipMetrics are one pool's membership gauges, labels bound once.
type membershipMetrics struct {
	bySource map[Source]prometheus.Gauge
	rebuilds prometheus.Counter
}

func (m *Metrics) membership(pool string) *membershipMetrics {
	mm := &membershipMetrics{bySource: map[Source]prometheus.Gauge{}, rebuilds: m.rebuilds.WithLabelValues(pool)}
	for _, s := range []Source{SourceZooKeeper, SourceCache, SourceStatic, SourceHTTP} {
		mm.bySource[s] = m.members.WithLabelValues(pool, string(s))
	}
	return mm
}

// observe records a published snapshot (the constructor's first call
// records the initial membership without counting a rebuild).
func (mm *membershipMetrics) observe(s Snapshot) {
	counts := map[Source]int{}
	for _, m := range s.Members {
		counts[m.Source]++
	}
	for src, g := range mm.bySource {
		g.Set(float64(counts[src]))
	}
}
