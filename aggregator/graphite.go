package aggregator

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"ringrelay/proxy/line"
)

// Bin is one flushed time bin of one path: the points whose timestamps fall
// in [Start, Start+Resolution). A bin of a rule's aggregate metric has the
// rule's frequency as its Resolution and the values carbon-aggregator
// collected for that interval.
type Bin struct {
	Path       string
	Resolution time.Duration
	Start      int64 // unix seconds, a multiple of Resolution
	Count      int64
	Sum        float64
	Min, Max   float64
	Last       float64 // the last point to arrive
	// Method is the reducer of the bin: the rule's method for a rule's
	// aggregate, else chosen by the path's name (see ReducerFor).
	Method Method
	// Value is Method applied: over the bin's statistics, or, for a rule's
	// aggregate, over its values exactly as carbon computes it.
	Value float64
}

// AppendLine appends the bin as a graphite plaintext line,
// "path value start\n". The value prints as carbon-aggregator's oracle
// prints it: integral values without a fraction ("15"), others as Python's
// repr ("15.5", "1e-05").
func (b *Bin) AppendLine(dst []byte) []byte {
	dst = append(dst, b.Path...)
	dst = append(dst, ' ')
	dst = appendPyValue(dst, b.Value)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, b.Start, 10)
	return append(dst, '\n')
}

// Merge adds o's points to b, as a coarse bin is made of finer ones:
// counts and sums add, min and max are kept, Last is o's (o arrived later).
// Value is not recomputed.
func (b *Bin) Merge(o Bin) {
	if o.Count == 0 {
		return
	}
	if b.Count == 0 {
		b.Min, b.Max = o.Min, o.Max
	}
	b.Count += o.Count
	b.Sum += o.Sum
	b.Min, b.Max, b.Last = min(b.Min, o.Min), max(b.Max, o.Max), o.Last
}

// ReducerFor is the default reducer of a path, by its name (graphite tags
// after ';' are ignored): a last node "count" or "sum" (or statsd's
// "count_90", "sum_90"), or a path starting "stats_counts.", sums; "min" or
// "lower" (and "lower_90") takes the minimum; "max" or "upper" (and
// "upper_90") the maximum; anything else the mean.
func ReducerFor(path string) Method {
	if i := strings.IndexByte(path, ';'); i >= 0 {
		path = path[:i]
	}
	if strings.HasPrefix(path, "stats_counts.") {
		return MethodSum
	}
	last := path[strings.LastIndexByte(path, '.')+1:]
	if i := strings.LastIndexByte(last, '_'); i > 0 && i+1 < len(last) && allDigits(last[i+1:]) {
		last = last[:i]
	}
	switch last {
	case "count", "sum":
		return MethodSum
	case "min", "lower":
		return MethodMin
	case "max", "upper":
		return MethodMax
	}
	return MethodAvg
}

// reduce applies m to a bin's statistics.
// ReduceStats is method m over a bin's statistics, as Flush computes a
// bin's Value (percentiles, which need the values, are the mean here).
func ReduceStats(m Method, count int64, sum, lo, hi float64) float64 {
	return reduce(m, count, sum, lo, hi)
}

func reduce(m Method, count int64, sum, lo, hi float64) float64 {
	switch m {
	case MethodSum:
		return sum
	case MethodMin:
		return lo
	case MethodMax:
		return hi
	case MethodCount:
		return float64(count)
	}
	return sum / float64(count)
}

// GraphiteStats are the accumulator's counters since it was made, and the
// keys it holds now.
type GraphiteStats struct {
	Keys        int    // paths held
	RuleOutputs int    // aggregate metrics of the rules held
	Points      uint64 // points accepted
	// Bad counts refused lines by line.Reason (BadFields, BadValue,
	// BadTimestamp, BadChar); blank lines are not counted.
	Bad         [line.NumReasons]uint64
	TooOld      uint64 // points older than every retention
	KeysDropped uint64 // lines for a new path while MaxKeys paths were held
	RuleDropped uint64 // values for a new aggregate while MaxKeys aggregates were held
}

// Graphite accumulates graphite plaintext lines into time bins, one series
// of bins per path and resolution, and through carbon-aggregator rules
// into aggregate metrics. It knows nothing of where bins go: Flush hands
// them to an emitter.
//
// It is safe for concurrent use: any number of goroutines may call Line
// while another calls Flush. Line takes one mutex per line and allocates
// nothing for a path already seen (a new path, a new bin beyond a series'
// capacity and the first value of a rule interval do). Flush holds that
// mutex while it walks the held bins and copies the due ones out; the
// reducers, the sort and the emit callback run after it is released.
type Graphite struct {
	res, ret []int64 // seconds, finest first
	delay    int64   // seconds
	rules    *Rules
	fwdAll   bool
	maxKeys  int
	now      func() time.Time // for timestamp -1

	flushMu sync.Mutex // serialises Flush; guards the scratch below
	outBins []Bin
	outRule []carbonOut
	outVals []float64
	locked  time.Duration // how long the last Flush held mu

	mu      sync.Mutex // guards the fields below it
	series  map[string]*series
	carbon  carbonState
	horizon []int64 // per resolution: bins ending at or before it are gone
	stats   GraphiteStats
}

// series is one path: its bins per resolution, sorted by start, and what
// the rules make of it.
type series struct {
	bins    [][]binState
	method  Method
	outs    []RuleMatch
	binned  bool
	matched bool // outs computed
}

type binState struct {
	start               int64
	count               int64
	sum, min, max, last float64
	dirty               bool
}

// NewGraphite returns an empty accumulator. cfg must have passed Validate.
func NewGraphite(cfg GraphiteConfig) *Graphite {
	rs, err := cfg.retentions()
	if err != nil {
		panic("aggregator: NewGraphite with a config that fails Validate: " + err.Error())
	}
	rules, err := ParseRules(cfg.Rules)
	if err != nil {
		panic("aggregator: NewGraphite with a config that fails Validate: " + err.Error())
	}
	g := &Graphite{rules: rules, fwdAll: cfg.ForwardAll, maxKeys: cfg.MaxKeys, now: time.Now,
		delay: int64(cfg.FlushDelay.Duration / time.Second), series: make(map[string]*series),
		carbon: newCarbonState(cfg.MaxAggregationIntervals, cfg.MaxKeys)}
	for _, r := range rs {
		g.res = append(g.res, int64(r.Resolution/time.Second))
		g.ret = append(g.ret, int64(r.Retention/time.Second))
		g.horizon = append(g.horizon, math.MinInt64)
	}
	return g
}

// Line accumulates one graphite plaintext line, "path value timestamp"
// without its newline, and reports whether it was taken. line is only read
// during the call. Lines are parsed by line.ParseGraphite; a refused line
// counts in GraphiteStats.Bad by reason (blank lines are refused silently).
// Timestamp -1 means now, as for carbon; a fractional timestamp is binned
// by its whole second, other negative ones are BadTimestamp.
func (g *Graphite) Line(l []byte) (ok bool) {
	name, value, timestamp, r := line.ParseGraphite(l)
	if r == line.Empty {
		return false
	}
	var v, ts float64
	if r == line.OK {
		var err error
		if v, err = strconv.ParseFloat(string(value), 64); err != nil && !math.IsInf(v, 0) {
			r = line.BadValue
		}
		if ts, err = strconv.ParseFloat(string(timestamp), 64); err != nil || ts < 0 && ts != -1 {
			r = line.BadTimestamp
		}
	}
	if r != line.OK {
		g.mu.Lock()
		g.stats.Bad[r]++
		g.mu.Unlock()
		return false
	}
	if ts == -1 {
		ts = float64(g.now().Unix())
	}
	sec := int64(ts)
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.series[string(name)]
	if s == nil {
		if len(g.series) >= g.maxKeys {
			g.stats.KeysDropped++
			return false
		}
		s = g.newSeries(string(name))
		g.series[string(name)] = s
	}
	took := false
	for _, m := range s.outs {
		if g.carbon.input(&m, ts, v) {
			took = true
		}
	}
	if s.binned {
		for k, res := range g.res {
			start := sec - sec%res
			if start+res <= g.horizon[k] {
				continue
			}
			bs := s.bins[k]
			i := len(bs) - 1
			for i >= 0 && bs[i].start > start {
				i--
			}
			if i < 0 || bs[i].start != start {
				i++
				bs = slices.Insert(bs, i, binState{start: start, count: 1, sum: v, min: v, max: v, last: v, dirty: true})
				s.bins[k] = bs
				took = true
				continue
			}
			b := &bs[i]
			b.count++
			b.sum += v
			b.min, b.max, b.last = min(b.min, v), max(b.max, v), v
			b.dirty = true
			took = true
		}
		if !took {
			g.stats.TooOld++
		}
	}
	if took {
		g.stats.Points++
	}
	return took
}

// newSeries makes the series of a new path; called with g.mu held.
func (g *Graphite) newSeries(path string) *series {
	s := &series{method: ReducerFor(path), bins: make([][]binState, len(g.res))}
	s.outs = g.rules.Match(path, nil)
	s.binned = len(s.outs) == 0 || g.fwdAll && !slices.ContainsFunc(s.outs, func(m RuleMatch) bool { return m.Output == path })
	return s
}

// Flush emits every bin that is due at now, then forgets what has expired.
// Bins come in no particular order, except that a rule's aggregates come
// last, in carbon's order (by aggregate creation, then interval creation). A bin is due when a point arrived
// for it since it was last emitted and its end plus flush_delay is at or
// before now; it is forgotten (and later points for it are counted as too
// old) once its end is older than its retention. Rule aggregates are
// computed as carbon-aggregator computes its buffers (every interval that
// got values since the last Flush, current ones included), stamped with the
// interval start and with the rule's frequency as resolution. emit is
// called after the lock is released; the Bin is the callee's.
//
// Flush calls are serialised; Line calls proceed while emit runs.
func (g *Graphite) Flush(now time.Time, emit func(Bin)) {
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	t := now.Unix()
	out, rout, vals := g.outBins[:0], g.outRule[:0], g.outVals[:0]

	t0 := time.Now()
	g.mu.Lock()
	for k := range g.res {
		g.horizon[k] = t - g.ret[k]
	}
	for path, s := range g.series {
		held := false
		for k, res := range g.res {
			bs := s.bins[k]
			keep := bs[:0]
			for _, b := range bs {
				end := b.start + res
				if b.dirty && end+g.delay <= t {
					out = append(out, Bin{Path: path, Resolution: secondsDuration(res), Start: b.start,
						Count: b.count, Sum: b.sum, Min: b.min, Max: b.max, Last: b.last, Method: s.method})
					b.dirty = false
				}
				if end <= g.horizon[k] {
					continue
				}
				keep = append(keep, b)
			}
			s.bins[k] = keep
			held = held || len(keep) > 0
		}
		if !held {
			delete(g.series, path)
		}
	}
	rout, vals = g.carbon.flush(t, rout, vals)
	g.mu.Unlock()
	g.locked = time.Since(t0)

	for i := range out {
		b := &out[i]
		b.Value = reduce(b.Method, b.Count, b.Sum, b.Min, b.Max)
	}
	for i := range rout {
		out = append(out, rout[i].bin(vals))
	}
	for i := range out {
		emit(out[i])
	}
	clear(out) // drop the path strings
	g.outBins, g.outRule, g.outVals = out[:0], rout[:0], vals[:0]
}

// Stats returns the counters and the number of keys held.
func (g *Graphite) Stats() GraphiteStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.Keys, s.RuleOutputs, s.RuleDropped = len(g.series), len(g.carbon.bufs), g.carbon.dropped
	return s
}

func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }

// appendPyValue appends v as the carbon-aggregator oracle prints carbon's
// values: an integral value below 1e16 as an integer, any other as
// Python's repr of the float ("15.5", "1e-05", "1e+16", "inf", "nan").
func appendPyValue(dst []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1e16 {
		if v == 0 {
			return append(dst, '0') // int(-0.0) is 0
		}
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return AppendPyRepr(dst, v)
}

// AppendPyRepr appends Python's repr of a float (Python 3's str too): the shortest digits that
// read back, fixed notation when the decimal exponent is in [-4, 16),
// else d.ddde±XX.
func AppendPyRepr(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "nan"...)
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], v, 'e', -1, 64) // -d.ddde±XX
	neg := e[0] == '-'
	if neg {
		e = e[1:]
		dst = append(dst, '-')
	}
	ei := slices.Index(e, 'e')
	mant, exp := e[:ei], e[ei+1:]
	x, _ := strconv.Atoi(string(exp))
	digits := make([]byte, 0, 20)
	digits = append(digits, mant[0])
	if len(mant) > 2 {
		digits = append(digits, mant[2:]...)
	}
	if x < -4 || x >= 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if x < 0 {
			dst, x = append(dst, '-'), -x
		} else {
			dst = append(dst, '+')
		}
		if x < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(x), 10)
	}
	if x < 0 {
		dst = append(dst, "0."...)
		for i := -1; i > x; i-- {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	if len(digits) <= x+1 {
		dst = append(dst, digits...)
		for i := len(digits); i <= x; i++ {
			dst = append(dst, '0')
		}
		return append(dst, ".0"...)
	}
	dst = append(dst, digits[:x+1]...)
	dst = append(dst, '.')
	return append(dst, digits[x+1:]...)
}
