package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"ringrelay/aggregator"
	"ringrelay/config"
	"ringrelay/proxy/line"
)

// AggregatorConfig is one [aggregators.NAME] section: an accumulator that
// listeners and rules can send lines to instead of a pool, and the pools
// its flushed lines go to. The keys of both kinds sit directly in the
// section: statsd's (aggregator.StatsdConfig, embedded) and graphite's
// (aggregator.GraphiteConfig's, listed here). flush_interval and max_keys
// serve both kinds; a key of the other kind is refused (keysOfOtherKind).
type AggregatorConfig struct {
	// Kind is "statsd" (Etsy statsd 0.9.0's semantics) or "graphite"
	// (graphite plaintext lines into time bins per resolution, and
	// carbon-aggregator rules).
	Kind string `toml:"kind"`
	// Output names the pools every flushed line is sent to, and the sinks
	// ("sink:NAME") every flushed bin is stored in.
	Output []string `toml:"output"`
	aggregator.StatsdConfig

	// Times, FlushDelay, Rules, ForwardAll and MaxAggregationIntervals are
	// aggregator.GraphiteConfig's keys (kind "graphite" only); its max_keys
	// is the one above (0: no bound).
	Times                   []string        `toml:"times"`
	FlushDelay              config.Duration `toml:"flush_delay"`
	Rules                   string          `toml:"rules"`
	ForwardAll              bool            `toml:"forward_all"`
	MaxAggregationIntervals int             `toml:"max_aggregation_intervals"`
}

// aggregatorDefaults: statsd's own defaults, graphite's
// (aggregator.DefaultGraphiteConfig), and at most a million keys (about
// 200 MiB of statsd counters; timers cost their samples on top). Each
// section starts from them whatever its kind: the keys of one kind do not
// touch the other's.
func aggregatorDefaults() AggregatorConfig {
	sc := aggregator.DefaultStatsdConfig()
	sc.MaxKeys = 1_000_000
	sc.MaxTimerSamples = 100_000
	gc := aggregator.DefaultGraphiteConfig()
	return AggregatorConfig{Kind: "statsd", StatsdConfig: sc, Times: gc.Times, FlushDelay: gc.FlushDelay,
		Rules: gc.Rules, ForwardAll: gc.ForwardAll, MaxAggregationIntervals: gc.MaxAggregationIntervals}
}

// graphiteConfig is the section as aggregator.GraphiteConfig; max_keys 0
// (no bound) becomes the largest int.
func (a AggregatorConfig) graphiteConfig() aggregator.GraphiteConfig {
	gc := aggregator.GraphiteConfig{Times: a.Times, MaxKeys: a.MaxKeys, FlushDelay: a.FlushDelay, Rules: a.Rules,
		ForwardAll: a.ForwardAll, MaxAggregationIntervals: a.MaxAggregationIntervals}
	if gc.MaxKeys == 0 {
		gc.MaxKeys = math.MaxInt
	}
	return gc
}

// validate checks the section; pools are the config's pool names. Each
// error starts with the key it is about.
func (a AggregatorConfig) validate(pools map[string]PoolConfig) []error {
	var errs []error
	if len(a.Output) == 0 {
		errs = append(errs, errors.New("output: name at least one pool (or \"sink:NAME\") for the flushed lines"))
	}
	for _, p := range a.Output {
		if strings.HasPrefix(p, sinkPrefix) {
			continue // sinkFeedErrors
		}
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
	switch a.Kind {
	case "statsd":
		sc := a.StatsdConfig
		if err := sc.Validate(); err != nil {
			errs = append(errs, err)
		}
	case "graphite":
		if a.FlushInterval.Duration%time.Second != 0 {
			errs = append(errs, fmt.Errorf("flush_interval %s: must be a whole number of seconds", a.FlushInterval.Duration))
		}
		if a.FlushDelay.Duration < 0 {
			errs = append(errs, fmt.Errorf("flush_delay %s: must not be negative", a.FlushDelay.Duration))
		}
		gc := a.graphiteConfig()
		if err := gc.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("kind %q: want \"statsd\" or \"graphite\"", a.Kind))
	}
	return errs
}

// statsdOnlyKeys and graphiteOnlyKeys are the keys of one kind that the
// other does not read.
var (
	graphiteOnlyKeys = []string{"times", "flush_delay", "rules", "forward_all", "max_aggregation_intervals"}
	statsdOnlyKeys   = slices.DeleteFunc(tomlKeys(aggregator.StatsdConfig{}), func(k string) bool {
		return k == "flush_interval" || k == "max_keys"
	})
)

// keysOfOtherKind refuses the keys set in the section (set: the section as
// decoded into a map; nil when the config was built in code) that its kind
// does not read: a percent_threshold on a graphite aggregator would
// otherwise be silently ignored.
func (a AggregatorConfig) keysOfOtherKind(set map[string]any) []error {
	other, otherKind := graphiteOnlyKeys, "graphite"
	switch a.Kind {
	case "graphite":
		other, otherKind = statsdOnlyKeys, "statsd"
	case "statsd":
	default:
		return nil
	}
	var errs []error
	for _, k := range sortedKeys(set) {
		if slices.Contains(other, k) {
			errs = append(errs, fmt.Errorf("%s: a key of kind %q; this aggregator is of kind %q", k, otherKind, a.Kind))
		}
	}
	return errs
}

// aggregatorFeedErrors reports the listeners of format "statsd" that feed
// the graphite aggregator name, directly or by a rule: every line they
// send it would count as bad.
func (c Config) aggregatorFeedErrors(name string, bad func(path []string, format string, args ...any)) {
	if c.Aggregators[name].Kind != "graphite" {
		return
	}
	format := map[string]string{}
	for i, l := range c.Listeners {
		format[l.Name] = l.Format
		if l.Aggregator == name && l.Format == "statsd" {
			bad([]string{"listeners", fmt.Sprint(i), "aggregator"}, "listener %q reads statsd lines; aggregator %q is of kind \"graphite\"", l.Name, name)
		}
	}
	for i, r := range c.Rules {
		if r.Aggregator == name && format[r.Listener] == "statsd" {
			bad([]string{"rules", fmt.Sprint(i), "aggregator"}, "listener %q reads statsd lines; aggregator %q is of kind \"graphite\"", r.Listener, name)
		}
	}
}

// accumulator is the state of a running aggregator, of either kind, as
// aggRT drives it. ingest is called by any number of dispatchers at once
// (under aggRT.gate's read lock); flush and drain one at a time (under
// aggRT.flushMu), concurrently with ingest; stats at any time (scrapes).
type accumulator interface {
	// ingest takes a block of lines, as read (a datagram, or up to a read
	// buffer of a stream), and returns how many non-empty lines it had.
	// block is only read during the call.
	ingest(block []byte) (lines int)
	// flush emits, as graphite lines without their newline, what is due at
	// now (a multiple of flush_interval). A line is only valid during emit.
	// A graphite accumulator also hands each line's bin to bin (when not
	// nil) just before the line, for sinks.
	flush(now time.Time, emit func(ln []byte), bin func(*aggregator.Bin))
	// drain is the final flush of a stopped aggregator: everything held
	// that a later flush would have emitted.
	drain(now time.Time, emit func(ln []byte), bin func(*aggregator.Bin))
	stats() accStats
}

// accStats are an accumulator's totals since it was built, and the keys
// it holds now (see aggCollector for their meaning).
type accStats struct {
	keys                       int
	blocks, lines, keysDropped uint64
	bad                        [line.NumReasons]uint64 // by line.Reason
	tooOld                     uint64                  // graphite only
	samples                    int                     // statsd: timer samples held
	samplesShed                uint64                  // statsd: beyond max_timer_samples
}

// aggBadReasons are the reasons each kind refuses a line for: the label
// values its bad_lines_total series are made for (a reason the kind
// cannot produce gets no series).
var aggBadReasons = map[string][]line.Reason{
	"statsd":   {line.BadFields, line.BadType, line.BadRate, line.BadValue},
	"graphite": {line.BadFields, line.BadValue, line.BadTimestamp, line.BadChar},
}

// statsdAcc is kind "statsd": Etsy statsd's accumulator, which takes a
// block as one datagram (each of its key shards locked once per block)
// and flushes everything at each flush.
type statsdAcc struct{ st *aggregator.Statsd }

func (a statsdAcc) ingest(block []byte) int { return a.st.Datagram(block) }
func (a statsdAcc) flush(now time.Time, emit func([]byte), _ func(*aggregator.Bin)) {
	a.st.Flush(now, emit)
}
func (a statsdAcc) drain(now time.Time, emit func([]byte), _ func(*aggregator.Bin)) {
	a.st.Flush(now, emit)
}
func (a statsdAcc) stats() accStats {
	s := a.st.Stats()
	return accStats{keys: s.Keys, blocks: s.Datagrams, lines: s.Lines, bad: s.BadByReason, keysDropped: s.KeysDropped,
		samples: s.Samples, samplesShed: s.SamplesShed}
}

// graphiteAcc is kind "graphite": graphite plaintext lines into time bins
// (aggregator.Graphite, which takes one lock per line). Each flush emits
// the bins that are due as "path value start", the value by the bin's
// reducer (the mean, a sum for .count names, ...; the rule's method for a
// rule's aggregate).
type graphiteAcc struct {
	g             *aggregator.Graphite
	blocks, lines atomic.Uint64
	buf           []byte // a line being emitted; flushes are serialised
}

// endOfTime is the clock (unix seconds) of the final flush, at which
// every bin is due.
const endOfTime = 1 << 62

func (a *graphiteAcc) ingest(block []byte) int {
	n := 0
	for len(block) > 0 {
		var ln []byte
		if ln, block = line.Cut(block); len(ln) > 0 {
			a.g.Line(ln)
			n++
		}
	}
	a.blocks.Add(1)
	a.lines.Add(uint64(n))
	return n
}

func (a *graphiteAcc) flush(now time.Time, emit func([]byte), bin func(*aggregator.Bin)) {
	a.g.Flush(now, func(b aggregator.Bin) {
		if bin != nil {
			bin(&b)
		}
		a.buf = b.AppendLine(a.buf[:0])
		emit(a.buf[:len(a.buf)-1])
	})
}

// drain emits every bin that got points since it was last emitted,
// including those not yet final (their end, plus flush_delay, still
// ahead), as carbon-aggregator emits each interval's value so far at every
// compute: points already read are not lost. A later emission of the same
// bin (by the aggregator that replaced this one in a reload, or after a
// restart) overwrites it downstream with the points that one got.
func (a *graphiteAcc) drain(_ time.Time, emit func([]byte), bin func(*aggregator.Bin)) {
	a.flush(time.Unix(endOfTime, 0), emit, bin)
}

func (a *graphiteAcc) stats() accStats {
	s := a.g.Stats()
	return accStats{keys: s.Keys + s.RuleOutputs, blocks: a.blocks.Load(), lines: a.lines.Load(), bad: s.Bad,
		keysDropped: s.KeysDropped + s.RuleDropped, tooOld: s.TooOld}
}

// aggRT is a running aggregator: the accumulator, the outputs its flushes
// go to, and the goroutine that flushes it on the wall clock's multiples
// of flush_interval. It belongs to the runtime: a reload that keeps its
// settings (outputs aside) keeps it and what it has accumulated.
type aggRT struct {
	name  string
	index int // the aggregator's slot in dispatchers; never reused
	cfg   AggregatorConfig
	acc   accumulator
	log   *zap.Logger
	met   *aggMetrics

	// outputs is one route per output pool, swapped by a reload;
	// outNames are their pools (touched by reloads only, under Relay.mu).
	outputs  atomic.Pointer[[]*route]
	outNames []string
	// sinks are the sinks its flushes store bins in, swapped by a reload.
	sinks atomic.Pointer[[]*sinkRT]

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

// handoff gives the accumulator a block of lines and returns how many
// non-empty ones it took; ok is false when it has stopped.
func (a *aggRT) handoff(buf []byte) (lines int, ok bool) {
	a.gate.RLock()
	defer a.gate.RUnlock()
	if a.stopped.Load() {
		return 0, false
	}
	return a.acc.ingest(buf), true
}

// newAggRT builds an aggregator of cfg's kind; cfg has passed validate.
func newAggRT(name string, index int, cfg AggregatorConfig, log *zap.Logger, met *aggMetrics) *aggRT {
	var acc accumulator = statsdAcc{aggregator.NewStatsd(cfg.StatsdConfig)}
	if cfg.Kind == "graphite" {
		acc = &graphiteAcc{g: aggregator.NewGraphite(cfg.graphiteConfig())}
	}
	return &aggRT{
		name: name, index: index, cfg: cfg, acc: acc,
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
			a.flush(next, false)
		}
	}()
}

// flush emits what is due at at (stamped at, for statsd) to every output
// pool; final is the drain of a stopped aggregator.
func (a *aggRT) flush(at time.Time, final bool) {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	start := time.Now()
	outs := *a.outputs.Load()
	ds := make([]*dispatcher, len(outs))
	for i, rt := range outs {
		ds[i] = newDispatcher(rt)
	}
	var sw *sinkWriter
	var toSink func(*aggregator.Bin)
	if ss := a.sinks.Load(); ss != nil && len(*ss) > 0 {
		sw = &sinkWriter{sinks: *ss, res: int64(a.cfg.FlushInterval.Duration / time.Second)}
		if a.cfg.Kind == "graphite" {
			toSink = sw.bin
		}
	}
	var n uint64
	flush := a.acc.flush
	if final {
		flush = a.acc.drain
	}
	flush(at, func(ln []byte) {
		n++
		if sw != nil && toSink == nil {
			sw.line(ln)
		}
		for _, d := range ds {
			d.line(ln)
			if len(d.active) > 256 {
				d.flush() // bound what a flush of many keys holds at once
			}
		}
	}, toSink)
	for _, d := range ds {
		d.flush()
	}
	if sw != nil {
		sw.flush()
	}
	a.met.emitted.Add(float64(n))
	a.met.flushSeconds.Set(time.Since(start).Seconds())
	a.met.flushes.Inc()
}

// stop ends the flush loop and, when final, flushes what is left (SIGTERM,
// or a reload that drops or rebuilds the aggregator): a graphite
// aggregator's bins not yet final included (see graphiteAcc.drain).
// Idempotent.
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
		a.flush(time.Now(), true)
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
	r                                          *Relay
	keys, lines, bad, dropped, packets, tooOld *prometheus.Desc
	samples, samplesShed                       *prometheus.Desc
}

func newAggCollector(r *Relay) *aggCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"aggregator"}, nil)
	}
	return &aggCollector{
		r:     r,
		keys:  d("ringrelay_aggregator_keys", "Distinct keys an aggregator holds now (graphite: paths and rule aggregates)."),
		lines: d("ringrelay_aggregator_lines_total", "Lines an aggregator took (statsd's metrics_received)."),
		bad: prometheus.NewDesc("ringrelay_aggregator_bad_lines_total", "Lines an aggregator refused as malformed (statsd's bad_lines_seen), by reason.",
			[]string{"aggregator", "reason"}, nil),
		samples:     d("ringrelay_aggregator_timer_samples", "Timer samples a statsd aggregator holds now (at most max_timer_samples per timer)."),
		samplesShed: d("ringrelay_aggregator_timer_samples_shed_total", "Timer samples beyond max_timer_samples: in each timer's exact count, sum, mean, upper, lower and std, not in its percentile sample."),
		dropped:     d("ringrelay_aggregator_keys_dropped_total", "Lines (graphite: or rule values) for a new key dropped because the aggregator held max_keys keys."),
		packets:     d("ringrelay_aggregator_datagrams_total", "Datagrams (or blocks of lines from a stream) an aggregator took."),
		tooOld:      d("ringrelay_aggregator_lines_too_old_total", "Lines a graphite aggregator dropped because their timestamp is older than every retention of times."),
	}
}

func (c *aggCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.keys, c.lines, c.bad, c.dropped, c.packets, c.tooOld, c.samples, c.samplesShed} {
		ch <- d
	}
}

func (c *aggCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.r.aggregators() {
		s := a.acc.stats()
		ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(s.keys), a.name)
		ch <- prometheus.MustNewConstMetric(c.lines, prometheus.CounterValue, float64(s.lines), a.name)
		for _, r := range aggBadReasons[a.cfg.Kind] {
			ch <- prometheus.MustNewConstMetric(c.bad, prometheus.CounterValue, float64(s.bad[r]), a.name, r.String())
		}
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.keysDropped), a.name)
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(s.blocks), a.name)
		if a.cfg.Kind == "graphite" {
			ch <- prometheus.MustNewConstMetric(c.tooOld, prometheus.CounterValue, float64(s.tooOld), a.name)
		} else {
			ch <- prometheus.MustNewConstMetric(c.samples, prometheus.GaugeValue, float64(s.samples), a.name)
			ch <- prometheus.MustNewConstMetric(c.samplesShed, prometheus.CounterValue, float64(s.samplesShed), a.name)
		}
	}
}

// aggBatch gathers a dispatcher's lines for one aggregator until flush.
type aggBatch struct {
	a   *aggRT
	buf []byte
}

// toAggregator appends a line for a; it reaches the accumulator at the
// dispatcher's flush, as one datagram of lines.
func (d *dispatcher) toAggregator(a *aggRT, ln []byte) {
	for i := range d.aggs {
		if d.aggs[i].a == a {
			d.aggs[i].buf = append(append(d.aggs[i].buf, ln...), '\n')
			return
		}
	}
	d.aggs = append(d.aggs, aggBatch{a: a, buf: append(append(make([]byte, 0, 4<<10), ln...), '\n')})
}

// handoff gives block to aggregator a, or to the one that replaced it in
// a reload; it returns the non-empty lines block had. With no aggregator
// left to take them, they are counted as dropped (reason "removed").
func (d *dispatcher) handoff(a *aggRT, block []byte) int {
	for to := a; ; {
		if n, ok := to.handoff(block); ok {
			return n
		}
		if to = to.next.Load(); to == nil {
			n := countLines(block)
			a.met.dropped.Add(float64(n))
			return n
		}
	}
}

// datagram hands a datagram to the route's aggregator whole, as it was
// sent (a direct statsd route: the accumulator splits it as Etsy statsd
// does, '\r' and all), and counts its lines as received.
func (d *dispatcher) datagram(b []byte) {
	d.in += uint64(d.handoff(d.r.agg, b))
}

// countLines counts the non-empty lines of block.
func countLines(block []byte) int {
	n := 0
	for len(block) > 0 {
		i := bytes.IndexByte(block, '\n')
		if i < 0 {
			return n + 1
		}
		if i > 0 {
			n++
		}
		block = block[i+1:]
	}
	return n
}

// flushAggregators hands each aggregator its lines.
func (d *dispatcher) flushAggregators() {
	for i := range d.aggs {
		b := &d.aggs[i]
		if len(b.buf) == 0 {
			continue
		}
		d.handoff(b.a, b.buf)
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

// AggregateTest is `relay aggregate`: it runs the named statsd
// aggregator's accumulator (the daemon's own code) over the statsd
// oracle's input format (one datagram per line, "## flush" ends a batch)
// and prints each flush, then extraFlushes idle flushes. A graphite
// aggregator is refused.
func AggregateTest(cfg Config, name string, in io.Reader, out io.Writer, extraFlushes int) error {
	ac, ok := cfg.Aggregators[name]
	if !ok {
		return fmt.Errorf("unknown aggregator %q (have %v)", name, sortedKeys(cfg.Aggregators))
	}
	if ac.Kind != "statsd" {
		return fmt.Errorf("aggregator %q is of kind %q: relay aggregate runs statsd aggregators only", name, ac.Kind)
	}
	return aggregator.RunOracleFormat(ac.StatsdConfig, in, out, extraFlushes)
}
