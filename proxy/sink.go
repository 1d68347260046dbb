package proxy

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"ringrelay/aggregator"
	"ringrelay/config"
	"ringrelay/sinks"
)

// sinkPrefix marks an aggregator output that names a sink, not a pool.
const sinkPrefix = "sink:"

// SinkConfig is one [sinks.NAME] section: where aggregators' flushed bins
// are stored (output = ["sink:NAME"]). The keys every kind reads come
// first; each kind's own keys sit directly in the section too (its config
// struct, embedded), and a key of another kind is refused.
type SinkConfig struct {
	// Kind is "memory" (the embedded store the read API can serve on its
	// own), "file" (append-only TSV, write-only), "mysql" or "cassandra".
	Kind string `toml:"kind"`
	// Times are the resolutions kept and their retentions, finest first
	// ("10s:168h"). Points of another resolution are dropped and counted.
	Times []string `toml:"times"`
	// QueuePoints bounds what a writing sink (file, mysql, cassandra) holds
	// while storage is slow; beyond it the oldest points are dropped and
	// counted. BatchPoints is how many go in one write; WriteTimeout
	// bounds a write; Retries are the attempts after a failed one before
	// its points are dropped (counted).
	QueuePoints  int             `toml:"queue_points"`
	BatchPoints  int             `toml:"batch_points"`
	WriteTimeout config.Duration `toml:"write_timeout"`
	Retries      int             `toml:"retries"`

	sinkKindConfigs
}

// sinkDefaults are every kind's defaults; a section starts from them.
func sinkDefaults() SinkConfig {
	return SinkConfig{Kind: "memory", Times: sinks.DefaultTimes(), QueuePoints: 1_000_000, BatchPoints: 500,
		WriteTimeout: config.Duration{Duration: 10 * time.Second}, Retries: 3, sinkKindConfigs: sinkKindDefaults()}
}

// sinkCommonKeys are the keys every kind reads.
var sinkCommonKeys = []string{"kind", "times", "queue_points", "batch_points", "write_timeout", "retries"}

// retentions are Times parsed (the section passed validate).
func (s SinkConfig) retentions() []sinks.Retention {
	rs, _ := sinks.ParseTimes(s.Times)
	return rs
}

func (s SinkConfig) asyncConfig() sinks.AsyncConfig {
	return sinks.AsyncConfig{QueuePoints: s.QueuePoints, BatchPoints: s.BatchPoints, Timeout: s.WriteTimeout.Duration, Retries: s.Retries}
}

// validate checks the section; set are the keys it sets (nil when built
// in code). Each error starts with the key it is about.
func (s SinkConfig) validate(set map[string]any) []error {
	var errs []error
	kind, ok := sinkKinds[s.Kind]
	if !ok {
		return []error{fmt.Errorf("kind %q: want one of %s", s.Kind, strings.Join(sortedKeys(sinkKinds), ", "))}
	}
	if _, err := sinks.ParseTimes(s.Times); err != nil {
		errs = append(errs, err)
	}
	if s.QueuePoints < 1 {
		errs = append(errs, fmt.Errorf("queue_points %d: must be at least 1", s.QueuePoints))
	}
	if s.BatchPoints < 1 {
		errs = append(errs, fmt.Errorf("batch_points %d: must be at least 1", s.BatchPoints))
	}
	if s.WriteTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("write_timeout %s: must be positive", s.WriteTimeout.Duration))
	}
	if s.Retries < 0 {
		errs = append(errs, fmt.Errorf("retries %d: must not be negative", s.Retries))
	}
	if err := kind.validate(s); err != nil {
		errs = append(errs, err)
	}
	for _, k := range sortedKeys(set) {
		if slices.Contains(sinkCommonKeys, k) || slices.Contains(kind.keys, k) {
			continue
		}
		for _, other := range sortedKeys(sinkKinds) {
			if slices.Contains(sinkKinds[other].keys, k) {
				errs = append(errs, fmt.Errorf("%s: a key of kind %q; this sink is of kind %q", k, other, s.Kind))
				break
			}
		}
	}
	return errs
}

// sinkKind is what the relay knows of one kind of sink.
type sinkKind struct {
	keys     []string // its own TOML keys
	validate func(SinkConfig) error
	open     func(name string, c SinkConfig, log *zap.Logger) (sinks.Sink, error)
	readable bool // it implements sinks.Reader
}

// sinkRT is an open sink of the runtime. A reload that keeps its section
// keeps it (and what it stored); a changed section closes it and opens a
// new one under the same name.
type sinkRT struct {
	name string
	cfg  SinkConfig
	s    sinks.Sink // nil when it failed to open (then points to it are counted, lost)
	// lost counts points for a sink that failed to open.
	lostMu sync.Mutex
	lost   uint64
}

func (s *sinkRT) write(pts []sinks.Point) {
	if s.s == nil {
		s.lostMu.Lock()
		s.lost += uint64(len(pts))
		s.lostMu.Unlock()
		return
	}
	s.s.Write(pts)
}

func (s *sinkRT) stats() sinks.Stats {
	var st sinks.Stats
	if s.s != nil {
		st = s.s.Stats()
	}
	s.lostMu.Lock()
	st.Dropped += s.lost
	s.lostMu.Unlock()
	return st
}

// reader is the sink as a sinks.Reader, or nil.
func (s *sinkRT) reader() sinks.Reader {
	r, _ := s.s.(sinks.Reader)
	return r
}

func openSinkRT(name string, c SinkConfig, log *zap.Logger) (*sinkRT, error) {
	st := &sinkRT{name: name, cfg: c}
	s, err := sinkKinds[c.Kind].open(name, c, log.Named("sink").With(zap.String("sink", name)))
	if err != nil {
		return nil, fmt.Errorf("failed to open sink %q: %w", name, err)
	}
	st.s = s
	return st, nil
}

// prepareSinks opens the sinks cfg adds (a failure refuses the config).
func (r *Relay) prepareSinks(pl *plan) error {
	pl.newSinks = map[string]*sinkRT{}
	for _, name := range sortedKeys(pl.cfg.Sinks) {
		if r.sinks[name] != nil {
			continue
		}
		s, err := openSinkRT(name, pl.cfg.Sinks[name], r.log)
		if err != nil {
			return err
		}
		pl.newSinks[name] = s
	}
	return nil
}

// commitSinks puts pl's sinks in the runtime: new ones join, a changed
// section replaces its sink (closed first, so that a file or snapshot it
// holds is free for the new one; opening can then fail only on what
// validate cannot see, which is logged and its points counted as lost).
// It returns the sinks to close once no aggregator flushes into them.
func (r *Relay) commitSinks(pl *plan, changes *[]string) (retired []*sinkRT) {
	set := func(name string, s *sinkRT) {
		r.sinkMu.Lock()
		defer r.sinkMu.Unlock()
		if s == nil {
			delete(r.sinks, name)
			delete(r.sinkOld, name)
			delete(r.sinkBase, name)
			return
		}
		if old := r.sinks[name]; old != nil && old != s {
			// Counters never restart: the name's series add the
			// replaced sink's counts, including drops of a flush that
			// still wrote to it while it closed.
			r.sinkOld[name] = append(r.sinkOld[name], old)
		}
		r.sinks[name] = s
	}
	for _, name := range sortedKeys(pl.newSinks) {
		set(name, pl.newSinks[name])
		*changes = append(*changes, "sink "+name+" added")
	}
	for _, name := range sortedKeys(r.sinks) {
		s := r.sinks[name]
		c, ok := pl.cfg.Sinks[name]
		switch {
		case !ok:
			set(name, nil)
			retired = append(retired, s)
			*changes = append(*changes, "sink "+name+" removed")
		case !reflect.DeepEqual(s.cfg, c):
			*changes = append(*changes, "sink "+name+" reopened (its section changed)")
			// Closed first, so that a file or snapshot it holds is free
			// for the new one; an aggregator flushing into it meanwhile
			// has those points counted as dropped.
			r.closeSinks([]*sinkRT{s})
			ns, err := openSinkRT(name, c, r.log)
			if err != nil {
				r.log.Error("sink not reopened; points for it are counted as dropped", zap.String("sink", name), zap.Error(err))
				ns = &sinkRT{name: name, cfg: c}
			}
			set(name, ns)
		}
	}
	return retired
}

// settleSinkCounts folds the counts of the sinks a reload replaced into
// their name's base, once no flush can write to them (after the
// aggregators' barrier), and lets them go.
func (r *Relay) settleSinkCounts() {
	r.sinkMu.Lock()
	defer r.sinkMu.Unlock()
	for name, olds := range r.sinkOld {
		b := r.sinkBase[name]
		for _, old := range olds {
			b = b.Add(old.stats())
		}
		r.sinkBase[name] = b
		delete(r.sinkOld, name)
	}
}

// closeSinks closes sinks no aggregator writes to any more, each within
// the shutdown timeout.
func (r *Relay) closeSinks(ss []*sinkRT) {
	timeout := 10 * time.Second
	if rt := r.router.Load(); rt != nil {
		timeout = rt.cfg.ShutdownTimeout.Duration
	}
	for _, s := range ss {
		if s.s == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := s.s.Close(ctx); err != nil {
			r.log.Warn("sink closed with losses", zap.String("sink", s.name), zap.Error(err))
		}
		cancel()
	}
}

// sinkOutputs are an aggregator's outputs that name sinks.
func sinkOutputs(outputs []string) (names []string) {
	for _, o := range outputs {
		if n, ok := strings.CutPrefix(o, sinkPrefix); ok {
			names = append(names, n)
		}
	}
	return names
}

// sinkFeedErrors checks that each sink output of aggregator a names a sink
// and that the sink keeps the resolutions a flushes at.
func (a AggregatorConfig) sinkFeedErrors(ss map[string]SinkConfig) []error {
	var errs []error
	for _, name := range sinkOutputs(a.Output) {
		sc, ok := ss[name]
		if !ok {
			errs = append(errs, fmt.Errorf("output: unknown sink %q", name))
			continue
		}
		rets, err := sinks.ParseTimes(sc.Times)
		if err != nil {
			continue // reported on the sink
		}
		kept := func(d time.Duration) bool {
			return slices.ContainsFunc(rets, func(r sinks.Retention) bool { return r.Resolution == d })
		}
		switch a.Kind {
		case "statsd":
			if !kept(a.FlushInterval.Duration) {
				errs = append(errs, fmt.Errorf("output: sink %q keeps no resolution of %s, this aggregator's flush_interval (its times: %s)",
					name, a.FlushInterval.Duration, strings.Join(sc.Times, ", ")))
			}
		case "graphite":
			gc := a.graphiteConfig()
			ours, _ := gc.Retentions()
			for _, r := range ours {
				if !kept(r.Resolution) {
					errs = append(errs, fmt.Errorf("output: sink %q keeps no resolution of %s, one of this aggregator's times (its times: %s)",
						name, r.Resolution, strings.Join(sc.Times, ", ")))
				}
			}
		}
	}
	return errs
}

// sinkWriter turns one aggregator flush into points for its sinks, in
// batches.
type sinkWriter struct {
	sinks []*sinkRT
	res   int64 // statsd: the flush interval in seconds
	buf   []sinks.Point
}

const sinkBatch = 1024

// line adds a statsd flush line "key value timestamp"; a line that does
// not parse (not expected: the aggregator wrote it) is skipped.
func (w *sinkWriter) line(ln []byte) {
	k, v, ts, ok := parseFlushedLine(ln)
	if !ok {
		return
	}
	w.add(sinks.Point{Path: k, Resolution: w.res, Start: statsdBin(ts, w.res), Count: 1, Sum: v, Min: v, Max: v, Last: v})
}

// statsdBin is the bin a statsd flush stamped ts is stored in: ts itself
// for the flushes at multiples of the interval, and for the final flush of
// a stopping aggregator (at any time) the next multiple, the flush the
// interval it holds would have had: stored at the bin before, it would
// overwrite the whole interval that flush stored.
func statsdBin(ts, res int64) int64 {
	if r := ts % res; r != 0 {
		return ts - r + res
	}
	return ts
}

// bin adds a graphite aggregator's bin with all its statistics.
func (w *sinkWriter) bin(b *aggregator.Bin) {
	w.add(sinks.Point{Path: b.Path, Resolution: sinks.Seconds(b.Resolution), Start: b.Start, Count: b.Count,
		Sum: b.Sum, Min: b.Min, Max: b.Max, Last: b.Last})
}

func (w *sinkWriter) add(p sinks.Point) {
	w.buf = append(w.buf, p)
	if len(w.buf) >= sinkBatch {
		w.flush()
	}
}

func (w *sinkWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	for _, s := range w.sinks {
		s.write(w.buf)
	}
	w.buf = w.buf[:0]
}

// parseFlushedLine splits "key value timestamp" (as the statsd
// accumulator writes it: one space between fields). Only the key is
// copied, as the point's path.
func parseFlushedLine(ln []byte) (key string, v float64, ts int64, ok bool) {
	k, rest, ok1 := bytes.Cut(ln, []byte{' '})
	val, stamp, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(k) == 0 {
		return "", 0, 0, false
	}
	var err1, err2 error
	v, err1 = strconv.ParseFloat(string(val), 64)
	ts, err2 = strconv.ParseInt(string(stamp), 10, 64)
	return string(k), v, ts, err1 == nil && err2 == nil
}

// sinkCollector reports each sink's counts at scrape time; a sink a reload
// reopened adds its predecessors' counts, so counters never go back.
type sinkCollector struct {
	r                                *Relay
	queued, written, errors, dropped *prometheus.Desc
}

func newSinkCollector(r *Relay) *sinkCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"sink"}, nil)
	}
	return &sinkCollector{
		r:       r,
		queued:  d("ringrelay_sink_queue_points", "Points a sink holds waiting to be written."),
		written: d("ringrelay_sink_points_written_total", "Points (rows) a sink wrote."),
		errors:  d("ringrelay_sink_write_errors_total", "Writes a sink attempted that failed (each is retried, up to retries)."),
		dropped: d("ringrelay_sink_points_dropped_total", "Points a sink dropped: its queue was full (the oldest go), writes kept failing, a series beyond its bounds, a resolution it does not keep, or it was closed before they were written."),
	}
}

func (c *sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queued
	ch <- c.written
	ch <- c.errors
	ch <- c.dropped
}

func (c *sinkCollector) Collect(ch chan<- prometheus.Metric) {
	type row struct {
		name string
		st   sinks.Stats
	}
	var rows []row
	c.r.sinkMu.Lock()
	for name, s := range c.r.sinks {
		st := s.stats().Add(c.r.sinkBase[name])
		for _, old := range c.r.sinkOld[name] {
			st = st.Add(old.stats())
		}
		rows = append(rows, row{name, st})
	}
	c.r.sinkMu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	for _, rw := range rows {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(rw.st.Queued), rw.name)
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(rw.st.Written), rw.name)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(rw.st.Errors), rw.name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(rw.st.Dropped), rw.name)
	}
}
