package aggregator

import (
	"bytes"
	"hash/maphash"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"ringrelay/proxy/line"
)

// Statsd accumulates statsd datagrams between flushes exactly as Etsy statsd
// 0.9.0 does (stats.js handlePacket and lib/process_metrics.js) and flushes
// them as its graphite backend would.
//
// It is safe for concurrent use: any number of reader goroutines may call
// Datagram while another calls Flush. The keys are spread over
// statsdShards shards by a hash, each with its own lock: a datagram is
// parsed with no lock held, then each shard it touches is locked once and
// given its operations in the datagram's order, so readers on several
// cores apply in parallel while every key sees its samples in order.
// Datagram allocates nothing for a key already seen (new keys and new set
// members are copied into the maps). Flush excludes Datagram (gate) only
// to take a snapshot of the values and reset them, so a datagram is wholly
// in one interval; the arithmetic, the formatting and the emit callback
// run after it is released.
type Statsd struct {
	cfg StatsdConfig
	// derived from cfg, read-only after NewStatsd
	flushSeconds                     float64 // flushInterval / 1000
	delCounters, delTimers, delSets  bool
	delGauges                        bool
	badKey, packetsKey, metricsKey   string
	lagKey                           string
	pcts                             []pctNames
	timerKeep                        map[string]bool // nil: keep all
	counterNS, countNS, timerNS      []byte
	gaugeNS, setNS, globalNS, suffix []byte
	numStatsName, calcName, procName []byte
	lastExcName, lastFlushName       []byte
	flushTimeName, flushLengthName   []byte
	hist                             []histEntry

	flushMu sync.Mutex // serialises Flush; guards the fields below it
	snap    snapshot
	line    []byte
	// graphiteStats of the previous flush, as statsd's backend reports them
	lastFlushTS, lastFlushLen, lastFlushMS int64

	// gate: Datagram applies under its read lock, Flush takes its
	// snapshot under its write lock.
	gate   sync.RWMutex
	oldTS  int64 // statsd's old_timestamp; under gate's write lock
	shards [statsdShards]statsdShard
	seed   maphash.Seed
	keys   atomic.Int64 // keys held, over every shard
	// the cells of counters[badKey], [packetsKey] and [metricsKey]: statsd
	// resets these to 0 and never deletes them; each lives in its key's
	// shard (badSh, ...), as a client's sample for that key would
	bad, packets, metrics       *float64
	badSh, packetsSh, metricsSh uint8
	lagSh                       uint8
	bufs                        [numParseBufs]parseBuf // parse scratch, taken with TryLock
	datagrams, lines, badLines  atomic.Uint64          // totals since NewStatsd (Stats)
	badBy                       [line.NumReasons]atomic.Uint64
}

// statsdShards is how many shards the keys are spread over: enough that
// readers on different cores seldom want the same one at once.
const statsdShards = 16

// statsdShard holds the keys whose hash falls in it. Its fields are
// guarded by mu.
type statsdShard struct {
	mu       sync.Mutex
	counters map[string]*float64
	timers   map[string]*timerState
	gauges   map[string]*gaugeState
	sets     map[string]map[string]struct{}
	rng      *rand.Rand // reservoir sampling (max_timer_samples)
	// totals since NewStatsd, for the caller's metrics (Stats)
	keysDropped uint64
	samplesShed uint64 // timer samples beyond max_timer_samples (kept in statistics only)
	samplesHeld int    // timer samples held now
	_           [64]byte
}

// shardOf returns the shard of key.
func (s *Statsd) shardOf(key []byte) uint8 {
	return uint8(maphash.Bytes(s.seed, key) % statsdShards)
}

// StatsdStats are an accumulator's totals since it was built, and the keys
// it holds now.
type StatsdStats struct {
	Keys        int
	Datagrams   uint64
	Lines       uint64
	BadLines    uint64
	KeysDropped uint64
	// BadByReason splits BadLines by line.Reason (bad_fields: no ':',
	// bad_type: no type, bad_rate, bad_value).
	BadByReason [line.NumReasons]uint64
	// Samples are the timer samples held now; SamplesShed those that went
	// beyond max_timer_samples (in the exact statistics, not the sample).
	Samples     int
	SamplesShed uint64
}

// Stats returns the accumulator's totals. Safe for concurrent use.
func (s *Statsd) Stats() StatsdStats {
	st := StatsdStats{Keys: int(s.keys.Load()), Datagrams: s.datagrams.Load(), Lines: s.lines.Load(), BadLines: s.badLines.Load()}
	for r := range st.BadByReason {
		st.BadByReason[r] = s.badBy[r].Load()
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.KeysDropped += sh.keysDropped
		st.Samples += sh.samplesHeld
		st.SamplesShed += sh.samplesShed
		sh.mu.Unlock()
	}
	return st
}

// admit reports whether a new key may be added to shard sh: not beyond
// MaxKeys (a line for a new key beyond it is dropped and counted). A key
// admitted is counted as held.
func (s *Statsd) admit(sh *statsdShard) bool {
	if s.cfg.MaxKeys <= 0 {
		s.keys.Add(1)
		return true
	}
	for {
		k := s.keys.Load()
		if k >= int64(s.cfg.MaxKeys) {
			sh.keysDropped++
			return false
		}
		if s.keys.CompareAndSwap(k, k+1) {
			return true
		}
	}
}

type timerState struct {
	vals  []float64 // samples since the last flush (a reservoir once over max_timer_samples)
	spare []float64 // the previous flush's samples, reused next time
	count float64   // Σ 1/rate
	over  overflow  // every sample's statistics, once vals is a reservoir
}

// overflow holds a timer's exact statistics over all its samples of the
// interval, kept once they outnumber max_timer_samples.
type overflow struct {
	seen       int64 // samples of the interval; 0 while vals holds them all
	sum, sumSq float64
	lo, hi     float64
}

// addTimer adds v to t, keeping at most max samples (0: all): beyond it,
// Algorithm R's uniform reservoir, and exact statistics in t.over.
func (s *Statsd) addTimer(sh *statsdShard, t *timerState, v float64) {
	bound := s.cfg.MaxTimerSamples
	if bound == 0 || len(t.vals) < bound && t.over.seen == 0 {
		t.vals = append(t.vals, v)
		sh.samplesHeld++
		return
	}
	o := &t.over
	if o.seen == 0 { // the first sample beyond the bound
		o.seen = int64(len(t.vals))
		o.lo, o.hi = math.Inf(1), math.Inf(-1)
		for _, x := range t.vals {
			o.sum += x
			o.sumSq += x * x
			o.lo, o.hi = min(o.lo, x), max(o.hi, x)
		}
	}
	o.seen++
	o.sum += v
	o.sumSq += v * v
	o.lo, o.hi = min(o.lo, v), max(o.hi, v)
	if j := sh.rng.Int64N(o.seen); j < int64(len(t.vals)) {
		t.vals[j] = v
	}
	sh.samplesShed++
}

type gaugeState struct {
	v   float64
	ttl int
}

// pctNames holds the names of one percentile's timer metrics and whether
// calculated_timer_metrics keeps them.
type pctNames struct {
	pct                                      float64
	count, mean, upper, lower, sum, sumSq    string
	kCount, kMean, kUpper, kLower, kSum, kSq bool
}

// NewStatsd returns an empty accumulator. cfg must have passed Validate.
func NewStatsd(cfg StatsdConfig) *Statsd {
	s := &Statsd{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.counters, sh.timers = make(map[string]*float64), make(map[string]*timerState)
		sh.gauges, sh.sets = make(map[string]*gaugeState), make(map[string]map[string]struct{})
		sh.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s.flushSeconds = float64(cfg.FlushInterval.Duration.Nanoseconds()) / 1e6 / 1000
	s.delCounters, s.delTimers, s.delSets, s.delGauges = cfg.deletes()
	ps := cfg.PrefixStats
	s.badKey, s.packetsKey, s.metricsKey = ps+".bad_lines_seen", ps+".packets_received", ps+".metrics_received"
	s.lagKey = ps + ".timestamp_lag"
	s.bad, s.packets, s.metrics = new(float64), new(float64), new(float64)
	s.badSh, s.packetsSh, s.metricsSh = s.shardOf([]byte(s.badKey)), s.shardOf([]byte(s.packetsKey)), s.shardOf([]byte(s.metricsKey))
	s.lagSh = s.shardOf([]byte(s.lagKey))
	s.shards[s.badSh].counters[s.badKey] = s.bad
	s.shards[s.packetsSh].counters[s.packetsKey] = s.packets
	s.shards[s.metricsSh].counters[s.metricsKey] = s.metrics
	s.keys.Store(3)
	if len(cfg.CalculatedTimerMetrics) > 0 {
		s.timerKeep = make(map[string]bool)
		for _, m := range cfg.CalculatedTimerMetrics {
			s.timerKeep[m] = true
		}
	}
	for _, p := range cfg.PercentThreshold {
		// '' + pct, first '.' → '_', first '-' → 'top'
		clean := string(AppendJSNumber(nil, p))
		clean = replaceFirst(clean, ".", "_")
		clean = replaceFirst(clean, "-", "top")
		if slices.ContainsFunc(s.pcts, func(n pctNames) bool { return n.count == "count_"+clean }) {
			continue // same names, same values: a JS object keeps one
		}
		n := pctNames{pct: p,
			count: "count_" + clean, mean: "mean_" + clean, upper: "upper_" + clean,
			lower: "lower_" + clean, sum: "sum_" + clean, sumSq: "sum_squares_" + clean}
		n.kCount, n.kMean, n.kUpper = s.keepTimer(n.count), s.keepTimer(n.mean), s.keepTimer(n.upper)
		n.kLower, n.kSum, n.kSq = s.keepTimer(n.lower), s.keepTimer(n.sum), s.keepTimer(n.sumSq)
		s.pcts = append(s.pcts, n)
	}
	s.hist = newHistEntries(cfg.Histogram)
	if cfg.GlobalSuffix != "" {
		s.suffix = []byte("." + cfg.GlobalSuffix)
	}
	if cfg.LegacyNamespace {
		s.globalNS, s.counterNS, s.countNS = []byte("stats"), []byte("stats"), []byte("stats_counts")
		s.timerNS, s.gaugeNS, s.setNS = []byte("stats.timers"), []byte("stats.gauges"), []byte("stats.sets")
		s.numStatsName = []byte(ps + ".numStats" + string(s.suffix))
		s.calcName = []byte("stats." + ps + ".graphiteStats.calculationtime" + string(s.suffix))
		s.procName = []byte("stats." + ps + ".processing_time" + string(s.suffix))
	} else {
		ns := func(p string) []byte {
			var parts []string
			if cfg.GlobalPrefix != "" {
				parts = append(parts, cfg.GlobalPrefix)
			}
			if p != "" {
				parts = append(parts, p)
			}
			return []byte(joinDot(parts))
		}
		s.globalNS = ns("")
		s.counterNS, s.timerNS = ns(cfg.PrefixCounter), ns(cfg.PrefixTimer)
		s.gaugeNS, s.setNS = ns(cfg.PrefixGauge), ns(cfg.PrefixSet)
		s.countNS = s.counterNS
		s.numStatsName = s.format(nil, s.globalNS, ps, "numStats")
		s.calcName = s.format(nil, s.globalNS, ps, "graphiteStats", "calculationtime")
		s.procName = s.format(nil, s.globalNS, ps, "processing_time")
	}
	// post_stats: globalNamespace.concat(prefixStats).join('.') + '.graphiteStats.X' + globalSuffix
	gp := string(s.globalNS)
	if gp != "" {
		gp += "."
	}
	gp += ps + ".graphiteStats."
	s.lastExcName = []byte(gp + "last_exception" + string(s.suffix))
	s.lastFlushName = []byte(gp + "last_flush" + string(s.suffix))
	s.flushTimeName = []byte(gp + "flush_time" + string(s.suffix))
	s.flushLengthName = []byte(gp + "flush_length" + string(s.suffix))
	return s
}

// keepTimer is statsd's filter_timer_metrics for one name: a trailing
// _<digits> or _top<digits> stands for _percent.
func (s *Statsd) keepTimer(name string) bool {
	if s.timerKeep == nil {
		return true
	}
	if i := lastIndexByte(name, '_'); i >= 0 {
		rest := name[i+1:]
		if len(rest) > 3 && rest[:3] == "top" {
			rest = rest[3:]
		}
		if len(rest) > 0 && allDigits(rest) {
			return s.timerKeep[name[:i]+"_percent"]
		}
	}
	return s.timerKeep[name]
}

// Datagram accumulates one datagram as statsd's handlePacket does. b is
// only read during the call.
//
// The datagram counts in packets_received; each non-empty '\n'-separated
// line counts in metrics_received; each sample that statsd refuses counts
// in bad_lines_seen, as do the samples on which statsd 0.9.0 would crash
// ("@ 0.5", "@Infinity", "@+1": a rate that passes its check but not its
// regexp).
//
// The datagram is parsed into operations with no lock held (callers on
// several goroutines parse in parallel), then each shard's operations are
// applied in the datagram's order under the shard's lock. Every key (and
// each of statsd's own counters) lives in one shard, so each sees its
// samples in the order sequential handling gives them.
//
// It returns the datagram's lines (the non-empty ones: its share of
// metrics_received).
func (s *Statsd) Datagram(b []byte) (lines int) {
	pb := s.parseBuf()
	pb.parse(s, b)
	if pb.own {
		// A client's sample for one of statsd's own counters: its
		// increments must interleave with the samples as they came.
		pb.reset()
		pb.each = true
		pb.parse(s, b)
	}
	pb.link()
	s.gate.RLock()
	// Each shard the datagram touches, once: those free now first, then
	// (all the rest busy) waiting for one.
	for pending := pb.used; pending != 0; {
		took := false
		for m := pending; m != 0; m &= m - 1 {
			i := bits.TrailingZeros32(m)
			if sh := &s.shards[i]; sh.mu.TryLock() {
				s.applyShard(sh, pb, pb.head[i])
				sh.mu.Unlock()
				pending &^= 1 << i
				took = true
			}
		}
		if !took {
			i := bits.TrailingZeros32(pending)
			sh := &s.shards[i]
			sh.mu.Lock()
			s.applyShard(sh, pb, pb.head[i])
			sh.mu.Unlock()
			pending &^= 1 << i
		}
	}
	s.gate.RUnlock()
	lines = pb.lines
	s.datagrams.Add(1)
	s.lines.Add(uint64(lines))
	if pb.bad > 0 {
		s.badLines.Add(uint64(pb.bad))
		for r, n := range pb.badBy {
			if n > 0 {
				s.badBy[r].Add(uint64(n))
			}
		}
	}
	pb.release()
	return lines
}

// applyShard performs, in order, the operations of pb linked from i on
// (all of shard sh), with sh.mu held.
func (s *Statsd) applyShard(sh *statsdShard, pb *parseBuf, i int32) {
	for ; i >= 0; i = pb.ops[i].next {
		s.apply(sh, pb, &pb.ops[i])
	}
}

// opKind is what one parsed operation does.
type opKind uint8

const (
	opLine    opKind = iota // v lines begin: metrics_received += v
	opPacket                // a datagram begins: packets_received++
	opBad                   // v refused samples (or lines): bad_lines_seen += v
	opCounter               // any type but ms, g and s
	opTimer
	opGauge
	opSet
)

// op is one step of a parsed datagram.
type op struct {
	kind opKind
	sign bool  // opGauge: the value was written with a sign (a delta)
	sh   uint8 // the shard of the key (of the statsd counter for opLine, opPacket, opBad)
	next int32 // the next operation of the same shard, or -1
	// key is a view into the datagram, or, when keyEnd > 0, arena[keyStart:keyEnd]
	key              []byte
	keyStart, keyEnd int
	member           []byte // opSet
	v, rate          float64
}

// parseBuf is one caller's scratch: the operations of a datagram and the
// sanitised keys they refer to.
type parseBuf struct {
	mu    sync.Mutex // held while in use
	s     *Statsd    // the accumulator parsing now (shards, statsd's own keys)
	ops   []op
	arena []byte
	lines int // the lines parsed
	bad   int // the samples refused, and why
	badBy [line.NumReasons]int
	// each: an operation per line and per refused sample for statsd's own
	// counters, in their places (the datagram has a client's sample for
	// one of them: own). Otherwise one operation each adds them all, at
	// the end: the same sums, since nothing else touches those counters.
	each, own bool
	// the operations of each shard, linked through op.next (link)
	head, tail [statsdShards]int32
	used       uint32 // the shards with operations
}

// link chains each shard's operations in order and notes the shards used.
func (pb *parseBuf) link() {
	for i := range pb.ops {
		o := &pb.ops[i]
		o.next = -1
		if pb.used&(1<<o.sh) == 0 {
			pb.used |= 1 << o.sh
			pb.head[o.sh] = int32(i)
		} else {
			pb.ops[pb.tail[o.sh]].next = int32(i)
		}
		pb.tail[o.sh] = int32(i)
	}
}

// badOp adds a refused sample (or line) for reason r.
func (pb *parseBuf) badOp(r line.Reason) {
	if pb.each {
		pb.ops = append(pb.ops, op{kind: opBad, sh: pb.s.badSh, v: 1})
	}
	pb.bad++
	pb.badBy[r]++
}

// parseBufs are reused without allocation (a sync.Pool drops its items
// under the race detector, and this path must not allocate per line).
const numParseBufs = 8

// parseBuf returns a free scratch, or a new one when all are busy.
func (s *Statsd) parseBuf() *parseBuf {
	for i := range s.bufs {
		if s.bufs[i].mu.TryLock() {
			return &s.bufs[i]
		}
	}
	pb := &parseBuf{}
	pb.mu.Lock()
	return pb
}

func (pb *parseBuf) release() {
	clear(pb.ops) // let go of views into the datagram
	pb.reset()
	pb.s = nil
	pb.mu.Unlock()
}

// reset empties pb for another parse.
func (pb *parseBuf) reset() {
	pb.ops, pb.arena, pb.lines = pb.ops[:0], pb.arena[:0], 0
	pb.bad, pb.badBy, pb.used, pb.each, pb.own = 0, [line.NumReasons]int{}, 0, false, false
}

func (pb *parseBuf) keyOf(o *op) []byte {
	if o.keyEnd > 0 {
		return pb.arena[o.keyStart:o.keyEnd]
	}
	return o.key
}

// parse splits a datagram into operations; it reads no accumulator state
// that changes (only s's settings).
func (pb *parseBuf) parse(s *Statsd, b []byte) {
	pb.s = s
	pb.ops = append(pb.ops, op{kind: opPacket, sh: s.packetsSh, v: 1})
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(b) > 0 {
				pb.line1(b)
			}
			break
		}
		if i > 0 {
			pb.line1(b[:i])
		}
		b = b[i+1:]
	}
	if !pb.each {
		if pb.lines > 0 {
			pb.ops = append(pb.ops, op{kind: opLine, sh: s.metricsSh, v: float64(pb.lines)})
		}
		if pb.bad > 0 {
			pb.ops = append(pb.ops, op{kind: opBad, sh: s.badSh, v: float64(pb.bad)})
		}
	}
}

// line1 parses one non-empty line of a datagram.
func (pb *parseBuf) line1(seg []byte) {
	if pb.each {
		pb.ops = append(pb.ops, op{kind: opLine, sh: pb.s.metricsSh, v: 1})
	}
	pb.lines++
	if !pb.plainLine(seg) {
		pb.generalLine(seg)
	}
}

// generalLine parses any line: DogStatsD tags, several samples, keys to
// sanitise, malformed lines.
func (pb *parseBuf) generalLine(seg []byte) {
	body, tags := seg, []byte(nil)
	if i := bytes.Index(seg, []byte("|#")); i >= 0 {
		body, tags = seg[:i], seg[i+2:]
		if j := bytes.Index(tags, []byte("|#")); j >= 0 {
			tags = tags[:j]
		}
	}
	c := bytes.IndexByte(body, ':')
	if c < 0 {
		// the single sample "1" has no type
		pb.badOp(line.BadFields)
		return
	}
	key := op{}
	if raw := body[:c]; len(tags) == 0 && cleanKey(raw) {
		key.key = raw
	} else {
		key.keyStart = len(pb.arena)
		pb.arena = appendKey(pb.arena, raw, tags)
		key.keyEnd = len(pb.arena)
		if key.keyEnd == key.keyStart { // an empty key: keep it a view
			key.keyEnd, key.key = 0, raw[:0]
		}
	}
	key.sh = pb.s.shardOf(pb.keyOf(&key))
	rest := body[c+1:]
	for {
		var smp []byte
		if i := bytes.IndexByte(rest, ':'); i >= 0 {
			smp, rest = rest[:i], rest[i+1:]
			pb.sample(key, smp)
			continue
		}
		pb.sample(key, rest)
		return
	}
}

// plainLine parses the common line in one pass: a non-empty key of bytes
// statsd keeps as they are, then one sample (value|type, or
// value|type|field) with no tags. It reports false, having done nothing,
// for any other line: line1's general path takes those.
func (pb *parseBuf) plainLine(seg []byte) bool {
	i := 0
	for i < len(seg) && keyBytes[seg[i]] {
		i++
	}
	if i == 0 || i == len(seg) || seg[i] != ':' {
		return false
	}
	rest := seg[i+1:]
	p1, p2 := -1, -1
	for j, c := range rest {
		switch c {
		case '|':
			switch {
			case p1 < 0:
				p1 = j
			case p2 < 0:
				p2 = j
			default:
				return false
			}
		case ':', '#':
			return false
		}
	}
	if p1 < 0 {
		return false
	}
	f0, f1, f2 := rest[:p1], rest[p1+1:], []byte(nil)
	if p2 >= 0 {
		f1, f2 = rest[p1+1:p2], rest[p2+1:]
	}
	pb.fields(op{key: seg[:i], sh: pb.s.shardOf(seg[:i])}, f0, f1, f2, p2 >= 0)
	return true
}

func cleanKey(raw []byte) bool {
	for _, c := range raw {
		if !keyBytes[c] {
			return false
		}
	}
	return true
}

// keyBytes[c] is keyByte(c), as a table for the parsing loops.
var keyBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = keyByte(byte(c))
	}
	return t
}()

// appendKey appends the sanitised key with its DogStatsD tags.
func appendKey(buf, raw, tags []byte) []byte {
	prevSpace := false
	buf = appendSanitized(buf, raw, &prevSpace)
	if len(tags) > 0 {
		// key + ';' + tags.split(',').map(t => t.replace(';','_').replace(':','=')).join(';')
		for {
			var t []byte
			i := bytes.IndexByte(tags, ',')
			if i >= 0 {
				t, tags = tags[:i], tags[i+1:]
			} else {
				t = tags
			}
			buf = append(buf, ';')
			prevSpace = false
			// replace(';', '_') then replace(':', '='): first occurrences only
			semi, colon := bytes.IndexByte(t, ';'), bytes.IndexByte(t, ':')
			for j := 0; j < len(t); {
				switch {
				case j == semi:
					buf = append(buf, '_')
					prevSpace = false
					j++
				case j == colon:
					buf = append(buf, '=')
					prevSpace = false
					j++
				default:
					k := j + 1
					for k < len(t) && k != semi && k != colon {
						k++
					}
					buf = appendSanitized(buf, t[j:k], &prevSpace)
					j = k
				}
			}
			if i < 0 {
				break
			}
		}
	}
	return buf
}

// keyByte reports whether c is kept as is by statsd's sanitizeKeyName:
// [a-zA-Z_\-0-9.;=].
func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ';' || c == '='
}

// appendSanitized appends raw through sanitizeKeyName: runs of white space
// become '_', '/' becomes '-', anything else outside [a-zA-Z_\-0-9.;=] goes.
// *prevSpace carries a white-space run across calls.
func appendSanitized(dst, raw []byte, prevSpace *bool) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		r, n := rune(c), 1
		if c >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(raw[i:])
		}
		i += n
		if isJSSpace(r) {
			if !*prevSpace {
				dst = append(dst, '_')
			}
			*prevSpace = true
			continue
		}
		*prevSpace = false
		switch {
		case c == '/':
			dst = append(dst, '-')
		case n == 1 && keyByte(c):
			dst = append(dst, c)
		}
	}
	return dst
}

// sample parses one value|type[|@rate[|...]] of key into an operation.
func (pb *parseBuf) sample(key op, smp []byte) {
	var f0, f1, f2 []byte
	has1, has2 := false, false
	if i := bytes.IndexByte(smp, '|'); i >= 0 {
		f0, has1 = smp[:i], true
		f1 = smp[i+1:]
		if j := bytes.IndexByte(f1, '|'); j >= 0 {
			f1, f2, has2 = f1[:j], f1[j+1:], true
			if k := bytes.IndexByte(f2, '|'); k >= 0 {
				f2 = f2[:k]
			}
		} else {
			f2 = nil
		}
	} else {
		f0 = smp
	}
	// lib/helpers.js is_valid_packet, on the raw type
	if !has1 {
		pb.badOp(line.BadType)
		return
	}
	pb.fields(key, f0, f1, f2, has2)
}

// fields parses a sample split at its first two '|': value f0, type f1
// and, when has2, the field after it, f2 (up to a third '|').
func (pb *parseBuf) fields(key op, f0, f1, f2 []byte, has2 bool) {
	bad := pb.badOp
	rate := 1.0
	if has2 {
		if len(f2) < 2 || f2[0] != '@' || f2[1] == '-' {
			bad(line.BadRate)
			return
		}
		if _, ok := jsNumber(f2[1:]); !ok {
			bad(line.BadRate)
			return
		}
		// Number(fields[2].match(/^@([\d\.]+)/)[1]); no match crashes statsd
		j := 1
		for j < len(f2) && (f2[j] >= '0' && f2[j] <= '9' || f2[j] == '.') {
			j++
		}
		if j == 1 {
			bad(line.BadRate)
			return
		}
		rate, _ = jsNumber(f2[1:j])
	}
	var v float64
	switch string(f1) {
	case "s":
	case "ms":
		var ok bool
		if v, ok = jsNumber(f0); !ok || len(f0) == 0 || !(v >= 0) {
			bad(line.BadValue)
			return
		}
	default:
		var ok bool
		if v, ok = jsNumber(f0); !ok || len(f0) == 0 {
			bad(line.BadValue)
			return
		}
	}
	o := key
	o.v, o.rate = v, rate
	switch string(jsTrim(f1)) {
	case "ms":
		o.kind = opTimer
	case "g":
		o.kind = opGauge
		o.sign = f0[0] == '+' || f0[0] == '-'
	case "s":
		o.kind = opSet
		o.member = f0
		if len(f0) == 0 {
			o.member = []byte("0")
		} else if !utf8.Valid(f0) {
			o.member = whatwgUTF8(f0)
		}
	default:
		o.kind = opCounter
		if s := pb.s; o.sh == s.metricsSh || o.sh == s.packetsSh || o.sh == s.badSh {
			k := pb.keyOf(&o)
			pb.own = pb.own || string(k) == s.metricsKey || string(k) == s.packetsKey || string(k) == s.badKey
		}
	}
	pb.ops = append(pb.ops, o)
}

// apply performs one parsed operation on shard sh, under sh.mu.
func (s *Statsd) apply(sh *statsdShard, pb *parseBuf, o *op) {
	switch o.kind {
	case opLine:
		*s.metrics += o.v
		return
	case opPacket:
		*s.packets += o.v
		return
	case opBad:
		*s.bad += o.v
		return
	}
	key := pb.keyOf(o)
	switch o.kind {
	case opTimer:
		t := sh.timers[string(key)]
		if t == nil {
			if !s.admit(sh) {
				return
			}
			t = &timerState{}
			sh.timers[string(key)] = t
		}
		s.addTimer(sh, t, o.v)
		t.count += 1 / o.rate
	case opGauge:
		g := sh.gauges[string(key)]
		if g == nil {
			if !s.admit(sh) {
				return
			}
			g = &gaugeState{}
			sh.gauges[string(key)] = g
			g.v = o.v
		} else if g.v != 0 && g.v == g.v && o.sign {
			g.v += o.v
		} else {
			g.v = o.v
		}
		if s.delGauges {
			g.ttl = s.cfg.GaugesMaxTTL // ttl > 0: the key is in statsd's gaugesTTL
		}
	case opSet:
		m := sh.sets[string(key)]
		if m == nil {
			if !s.admit(sh) {
				return
			}
			m = make(map[string]struct{})
			sh.sets[string(key)] = m
		}
		if string(o.member) == "__proto__" {
			// store['__proto__'] = true sets no property in JavaScript
			return
		}
		if _, ok := m[string(o.member)]; !ok {
			m[string(o.member)] = struct{}{}
		}
	default:
		p := sh.counters[string(key)]
		if p == nil {
			if !s.admit(sh) {
				return
			}
			z := 0.0
			p = &z
			sh.counters[string(key)] = p
		} else if *p != *p {
			*p = 0 // if (!counters[key]) counters[key] = 0, and NaN is falsy
		}
		*p += float64(o.v * (1 / o.rate))
	}
}

func replaceFirst(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

func lastIndexByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func joinDot(parts []string) string {
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += "."
		}
		out += p
	}
	return out
}
