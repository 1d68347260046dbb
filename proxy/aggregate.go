package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"ringrelay/aggregator"
)

// AggregatorConfig is one [aggregators.NAME] section: an accumulator that
// listeners and rules can send lines to instead of a pool, and the pools
// its flushed lines go to. The statsd keys sit directly in the section.
type AggregatorConfig struct {
	// Kind is "statsd" (Etsy statsd 0.9.0's semantics).
	Kind string `toml:"kind"`
	// Output names the pools every flushed line is sent to.
	Output []string `toml:"output"`
	aggregator.StatsdConfig
}

// aggregatorDefaults: statsd's own defaults, and at most a million keys
// (about 200 MiB of counters; timers cost their samples on top).
func aggregatorDefaults() AggregatorConfig {
	sc := aggregator.DefaultStatsdConfig()
	sc.MaxKeys = 1_000_000
	return AggregatorConfig{Kind: "statsd", StatsdConfig: sc}
}

// validate checks the section; pools are the config's pool names.
func (a AggregatorConfig) validate(pools map[string]PoolConfig) []error {
	var errs []error
	if a.Kind != "statsd" {
		errs = append(errs, fmt.Errorf("kind %q: want \"statsd\"", a.Kind))
	}
	if len(a.Output) == 0 {
		errs = append(errs, errors.New("output: name at least one pool for the flushed lines"))
	}
	for _, p := range a.Output {
		if _, ok := pools[p]; !ok {
			errs = append(errs, fmt.Errorf("output: unknown pool %q", p))
		}
	}
	if a.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("max_keys %d: must not be negative", a.MaxKeys))
	}
	if a.FlushInterval.Duration < time.Second {
		errs = append(errs, fmt.Errorf("flush_interval %s: must be at least 1s", a.FlushInterval.Duration))
	}
	sc := a.StatsdConfig
	if err := sc.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// aggRT is a running aggregator: the accumulator, the outputs its flushes
// go to, and the goroutine that flushes it on the wall clock's multiples
// of flush_interval. It belongs to the runtime: a reload that keeps its
// settings (outputs aside) keeps it and what it has accumulated.
type aggRT struct {
	name  string
	index int // the aggregator's slot in dispatchers; never reused
	cfg   AggregatorConfig
	st    *aggregator.Statsd
	log   *zap.Logger
	met   *aggMetrics

	// outputs is one route per output pool, swapped by a reload;
	// outNames are their pools (touched by reloads only, under Relay.mu).
	outputs  atomic.Pointer[[]*route]
	outNames []string

	flushMu sync.Mutex // one flush at a time
	stopCh  chan struct{}
	wg      sync.WaitGroup
	// gate orders hand-offs against stop: once stop has set stopped under
	// it, no dispatcher hands this accumulator lines any more (they go to
	// next, the aggregator that replaced it in a reload, or are counted).
	gate    sync.RWMutex
	stopped atomic.Bool
	next    atomic.Pointer[aggRT]
}

// handoff gives the accumulator a block of lines; false when it stopped.
func (a *aggRT) handoff(buf []byte) bool {
	a.gate.RLock()
	defer a.gate.RUnlock()
	if a.stopped.Load() {
		return false
	}
	a.st.Datagram(buf)
	return true
}

func newAggRT(name string, index int, cfg AggregatorConfig, log *zap.Logger, met *aggMetrics) *aggRT {
	return &aggRT{
		name: name, index: index, cfg: cfg, st: aggregator.NewStatsd(cfg.StatsdConfig),
		log: log.Named("aggregator").With(zap.String("aggregator", name)), met: met, stopCh: make(chan struct{}),
	}
}

// start runs the flush loop: flushes at every multiple of flush_interval
// on the wall clock, so relays and aggregators that share an interval
// flush at the same instants.
func (a *aggRT) start() {
	every := a.cfg.FlushInterval.Duration
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			now := time.Now()
			next := now.Truncate(every).Add(every)
			t := time.NewTimer(next.Sub(now))
			select {
			case <-a.stopCh:
				t.Stop()
				return
			case <-t.C:
			}
			a.flush(next)
		}
	}()
}

// flush emits what was accumulated, stamped at, to every output pool.
func (a *aggRT) flush(at time.Time) {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	start := time.Now()
	outs := *a.outputs.Load()
	ds := make([]*dispatcher, len(outs))
	for i, rt := range outs {
		ds[i] = newDispatcher(rt)
	}
	var n uint64
	a.st.Flush(at, func(ln []byte) {
		n++
		for _, d := range ds {
			d.line(ln)
			if len(d.active) > 256 {
				d.flush() // bound what a flush of many keys holds at once
			}
		}
	})
	for _, d := range ds {
		d.flush()
	}
	a.met.emitted.Add(float64(n))
	a.met.flushSeconds.Set(time.Since(start).Seconds())
	a.met.flushes.Inc()
}

// stop ends the flush loop and, when final, flushes what is left (SIGTERM,
// or a reload that drops or rebuilds the aggregator). Idempotent.
func (a *aggRT) stop(final bool) {
	a.gate.Lock()
	was := a.stopped.Swap(true)
	a.gate.Unlock()
	if was {
		return
	}
	close(a.stopCh)
	a.wg.Wait()
	if final {
		a.flush(time.Now())
	}
}

// sameState reports whether an aggregator built from b keeps what one built
// from a accumulated: same settings, outputs aside.
func (a AggregatorConfig) sameState(b AggregatorConfig) bool {
	a.Output, b.Output = nil, nil
	return reflect.DeepEqual(a, b)
}

// aggMetrics are one aggregator's series.
type aggMetrics struct {
	emitted      prometheus.Counter
	dropped      prometheus.Counter // lines for an aggregator a reload removed
	flushes      prometheus.Counter
	flushSeconds prometheus.Gauge
}

// aggCollector reports each running aggregator's accumulator counts at
// scrape time (they live in the accumulator, counted under its lock).
type aggCollector struct {
	r                                  *Relay
	keys, lines, bad, dropped, packets *prometheus.Desc
}

func newAggCollector(r *Relay) *aggCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"aggregator"}, nil)
	}
	return &aggCollector{
		r:       r,
		keys:    d("ringrelay_aggregator_keys", "Distinct keys an aggregator holds now."),
		lines:   d("ringrelay_aggregator_lines_total", "Lines an aggregator took (statsd's metrics_received)."),
		bad:     d("ringrelay_aggregator_bad_lines_total", "Lines an aggregator refused as malformed (statsd's bad_lines_seen)."),
		dropped: d("ringrelay_aggregator_keys_dropped_total", "Lines for a new key dropped because the aggregator held max_keys keys."),
		packets: d("ringrelay_aggregator_datagrams_total", "Datagrams (or blocks of lines from a stream) an aggregator took."),
	}
}

func (c *aggCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.keys, c.lines, c.bad, c.dropped, c.packets} {
		ch <- d
	}
}

func (c *aggCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.r.aggregators() {
		s := a.st.Stats()
		ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(s.Keys), a.name)
		ch <- prometheus.MustNewConstMetric(c.lines, prometheus.CounterValue, float64(s.Lines), a.name)
		ch <- prometheus.MustNewConstMetric(c.bad, prometheus.CounterValue, float64(s.BadLines), a.name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.KeysDropped), a.name)
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(s.Datagrams), a.name)
	}
}

// aggBatch gathers a dispatcher's lines for one aggregator until flush.
type aggBatch struct {
	a   *aggRT
	buf []byte
}

// toAggregator appends a line for a; it reaches the accumulator at the
// dispatcher's flush, as one datagram of lines (one lock per block).
func (d *dispatcher) toAggregator(a *aggRT, ln []byte) {
	for i := range d.aggs {
		if d.aggs[i].a == a {
			d.aggs[i].buf = append(append(d.aggs[i].buf, ln...), '\n')
			return
		}
	}
	d.aggs = append(d.aggs, aggBatch{a: a, buf: append(append(make([]byte, 0, 4<<10), ln...), '\n')})
}

// flushAggregators hands each aggregator its lines.
func (d *dispatcher) flushAggregators() {
	for i := range d.aggs {
		b := &d.aggs[i]
		if len(b.buf) == 0 {
			continue
		}
		for a := b.a; !a.handoff(b.buf); {
			if a = a.next.Load(); a == nil {
				b.a.met.dropped.Add(float64(bytes.Count(b.buf, []byte{'\n'})))
				break
			}
		}
		b.buf = b.buf[:0]
	}
	// A stopped aggregator (a reload dropped or rebuilt it) must not be
	// pinned by an idle connection.
	for _, b := range d.aggs {
		if b.a.stopped.Load() {
			d.aggs = d.aggs[:0]
			break
		}
	}
}

// AggregateTest is `relay aggregate`: it runs the named aggregator's
// accumulator (the daemon's own code) over the statsd oracle's input
// format (one datagram per line, "## flush" ends a batch) and prints each
// flush, then extraFlushes idle flushes.
func AggregateTest(cfg Config, name string, in io.Reader, out io.Writer, extraFlushes int) error {
	ac, ok := cfg.Aggregators[name]
	if !ok {
		return fmt.Errorf("unknown aggregator %q (have %v)", name, sortedKeys(cfg.Aggregators))
	}
	return aggregator.RunOracleFormat(ac.StatsdConfig, in, out, extraFlushes)
}
