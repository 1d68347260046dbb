package aggregator

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// snapshot holds what one flush took from the accumulator; its slices are
// reused from flush to flush (guarded by Statsd.flushMu).
type snapshot struct {
	counters, gauges, sets []keyValue
	timers                 []timerSnap
	cum, cumSq             []float64
	hist                   []float64
	radix                  []uint64 // sortSamples' scratch
}

type keyValue struct {
	key string
	v   float64
}

type timerSnap struct {
	key   string
	vals  []float64
	count float64
	over  overflow // seen > 0: vals is a reservoir of seen samples
}

// histEntry is one histogram setting with its bin names worked out.
type histEntry struct {
	metric string
	bins   []float64
	names  []string
	last   []bool // false where a later bin has the same name (it wins, as in a JS object)
}

func newHistEntries(cfg []HistogramConfig) []histEntry {
	var out []histEntry
	for _, h := range cfg {
		e := histEntry{metric: h.Metric, bins: h.Bins}
		for _, b := range h.Bins {
			name := "inf"
			if !math.IsInf(b, 1) {
				name = replaceFirst(FormatJSNumber(b), ".", "_")
			}
			e.names = append(e.names, "bin_"+name)
		}
		for i := range e.names {
			e.last = append(e.last, !slices.Contains(e.names[i+1:], e.names[i]))
		}
		out = append(out, e)
	}
	return out
}

// Flush emits everything accumulated since the previous flush as the graphite
// lines ("key value timestamp", no newline) that statsd's graphite backend
// would send for a flush at now, then resets the state as statsd does
// (counters to 0, timers and sets emptied, or deleted as configured; gauges
// kept, or deleted after gauges_max_ttl idle flushes).
//
// Lines are emitted in no particular order. line is only valid during the
// call to emit; emit runs on the caller's goroutine after the accumulator's
// lock is released, so Datagram goes on meanwhile. Flush calls are serialised.
// The timestamp is now rounded to the second, as statsd's Math.round.
func (s *Statsd) Flush(now time.Time, emit func(line []byte)) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	start := time.Now()
	ts := int64(jsRound(float64(now.UnixMilli()) / 1000))
	sn := &s.snap
	s.take(sn, ts)

	payload := int64(0)
	out := func(name []byte, v float64) {
		s.line = append(s.line[:0], name...)
		s.line = append(s.line, ' ')
		s.line = AppendJSNumber(s.line, v)
		s.line = append(s.line, ' ')
		s.line = strconv.AppendInt(s.line, ts, 10)
		payload += int64(len(s.line)) + 1
		emit(s.line)
	}
	var name []byte
	for _, c := range sn.counters {
		rate := c.v / s.flushSeconds
		if s.cfg.LegacyNamespace {
			name = s.format(name[:0], s.counterNS, c.key)
			out(name, rate)
			if s.cfg.FlushCounts {
				name = s.format(name[:0], s.countNS, c.key)
				out(name, c.v)
			}
		} else {
			name = s.format(name[:0], s.counterNS, c.key, "rate")
			out(name, rate)
			if s.cfg.FlushCounts {
				name = s.format(name[:0], s.counterNS, c.key, "count")
				out(name, c.v)
			}
		}
	}
	for i := range sn.timers {
		s.timer(sn, &sn.timers[i], &name, out)
	}
	processing := time.Since(start).Milliseconds()
	for _, g := range sn.gauges {
		name = s.format(name[:0], s.gaugeNS, g.key)
		out(name, g.v)
	}
	for _, st := range sn.sets {
		name = s.format(name[:0], s.setNS, st.key, "count")
		out(name, st.v)
	}
	numStats := len(sn.counters) + len(sn.timers) + len(sn.gauges) + len(sn.sets)
	out(s.numStatsName, float64(numStats))
	out(s.calcName, float64(time.Since(start).Milliseconds()))
	out(s.procName, float64(processing))
	lastFlush := s.lastFlushTS
	if lastFlush == 0 {
		lastFlush = ts
	}
	emitStart := time.Now()
	out(s.lastExcName, 0)
	out(s.lastFlushName, float64(lastFlush))
	out(s.flushTimeName, float64(s.lastFlushMS))
	out(s.flushLengthName, float64(s.lastFlushLen))
	s.lastFlushTS, s.lastFlushLen = ts, payload
	s.lastFlushMS = time.Since(emitStart).Milliseconds()

	// let go of the keys and samples of deleted entries
	clear(sn.counters)
	clear(sn.gauges)
	clear(sn.sets)
	clear(sn.timers)
}

// take copies the state into sn and resets it, with Datagram excluded
// (gate), so that a datagram is wholly in one interval.
func (s *Statsd) take(sn *snapshot, ts int64) {
	sn.counters, sn.gauges, sn.sets, sn.timers = sn.counters[:0], sn.gauges[:0], sn.sets[:0], sn.timers[:0]
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.oldTS > 0 {
		lag := &s.shards[s.lagSh]
		g := lag.gauges[s.lagKey]
		if g == nil {
			g = &gaugeState{}
			lag.gauges[s.lagKey] = g
			s.keys.Add(1)
		}
		g.v = float64(ts-s.oldTS) - s.flushSeconds
	}
	s.oldTS = ts
	deleted := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock() // against Stats; Datagram is excluded by gate
		deleted += s.takeShard(sn, sh)
		sh.mu.Unlock()
	}
	s.keys.Add(-int64(deleted))
}

// takeShard is take for one shard; it returns how many keys it deleted.
func (s *Statsd) takeShard(sn *snapshot, sh *statsdShard) (deleted int) {
	for k, p := range sh.counters {
		sn.counters = append(sn.counters, keyValue{k, *p})
		if s.delCounters && !strings.Contains(k, "packets_received") &&
			!strings.Contains(k, "metrics_received") && !strings.Contains(k, "bad_lines_seen") {
			delete(sh.counters, k)
			deleted++
		} else {
			*p = 0
		}
	}
	sh.samplesHeld = 0 // every sample leaves with the snapshot
	for k, t := range sh.timers {
		sn.timers = append(sn.timers, timerSnap{k, t.vals, t.count, t.over})
		if s.delTimers {
			delete(sh.timers, k)
			deleted++
		} else {
			t.vals, t.spare = t.spare[:0], t.vals
			t.count = 0
			t.over = overflow{}
		}
	}
	for k, g := range sh.gauges {
		sn.gauges = append(sn.gauges, keyValue{k, g.v})
	}
	if s.delGauges {
		for k, g := range sh.gauges {
			if g.ttl > 0 {
				if g.ttl--; g.ttl < 1 {
					delete(sh.gauges, k)
					deleted++
				}
			}
		}
	}
	for k, m := range sh.sets {
		sn.sets = append(sn.sets, keyValue{k, float64(len(m))})
		if s.delSets {
			delete(sh.sets, k)
			deleted++
		} else {
			clear(m)
		}
	}
	return deleted
}

// timer emits one timer's metrics as lib/process_metrics.js computes them.
func (s *Statsd) timer(sn *snapshot, t *timerSnap, name *[]byte, out func([]byte, float64)) {
	tm := func(metric string, v float64) {
		*name = s.format((*name)[:0], s.timerNS, t.key, metric)
		out(*name, v)
	}
	keep := func(m string) bool { return s.timerKeep == nil || s.timerKeep[m] }
	vals := t.vals
	n := len(vals)
	if n == 0 {
		if keep("count") {
			tm("count", 0)
		}
		if keep("count_ps") {
			tm("count_ps", 0)
		}
		return
	}
	sn.radix = sortSamples(vals, sn.radix)
	lo, hi := vals[0], vals[n-1]
	cum, cumSq := sn.cum[:0], sn.cumSq[:0]
	cum, cumSq = append(cum, lo), append(cumSq, float64(lo*lo))
	for i := 1; i < n; i++ {
		cum = append(cum, vals[i]+cum[i-1])
		cumSq = append(cumSq, float64(vals[i]*vals[i])+cumSq[i-1])
	}
	sn.cum, sn.cumSq = cum, cumSq
	// at(a, i) is a[i], or ok=false where JavaScript reads undefined
	at := func(a []float64, i int) (float64, bool) {
		if i < 0 || i >= len(a) {
			return math.NaN(), false
		}
		return a[i], true
	}
	for _, p := range s.pcts {
		num := n
		sum, sumSq, mean, bound := lo, float64(lo*lo), lo, hi
		okSum, okSq, okBound := true, true, true
		if n > 1 {
			num = int(jsRound(math.Abs(p.pct) / 100 * float64(n)))
			if num == 0 {
				continue
			}
			if p.pct > 0 {
				bound, okBound = at(vals, num-1)
				sum, okSum = at(cum, num-1)
				sumSq, okSq = at(cumSq, num-1)
			} else {
				bound, okBound = at(vals, n-num)
				// cumulativeValues[count-1] - undefined is NaN, not undefined
				a, ok := at(cum, n-num-1)
				sum = cum[n-1] - a
				if !ok {
					sum = math.NaN()
				}
				a, ok = at(cumSq, n-num-1)
				sumSq = cumSq[n-1] - a
				if !ok {
					sumSq = math.NaN()
				}
			}
			mean = sum / float64(num)
		}
		if o := t.over; o.seen > 0 && n > 1 { // scale the sample's share to every sample
			scale := float64(o.seen) / float64(n)
			num = int(jsRound(math.Abs(p.pct) / 100 * float64(o.seen)))
			sum, sumSq = sum*scale, sumSq*scale
		}
		if p.kCount {
			tm(p.count, float64(num))
		}
		if p.kMean {
			tm(p.mean, mean)
		}
		if p.pct > 0 {
			if p.kUpper && okBound {
				tm(p.upper, bound)
			}
		} else if p.kLower && okBound {
			tm(p.lower, bound)
		}
		if p.kSum && okSum {
			tm(p.sum, sum)
		}
		if p.kSq && okSq {
			tm(p.sumSq, sumSq)
		}
	}
	sum, sumSq := cum[n-1], cumSq[n-1]
	mean := sum / float64(n)
	diffs := 0.0
	for _, v := range vals {
		diffs += float64((v - mean) * (v - mean))
	}
	std := math.Sqrt(diffs / float64(n))
	if o := t.over; o.seen > 0 { // exact, over every sample
		sum, sumSq, lo, hi = o.sum, o.sumSq, o.lo, o.hi
		mean = sum / float64(o.seen)
		std = math.Sqrt(max(0, sumSq/float64(o.seen)-mean*mean))
	}
	mid := n / 2
	median := vals[mid]
	if n%2 == 0 {
		median = (vals[mid-1] + vals[mid]) / 2
	}
	for _, m := range [...]struct {
		name string
		v    float64
	}{
		{"std", std}, {"upper", hi}, {"lower", lo}, {"count", t.count},
		{"count_ps", t.count / s.flushSeconds}, {"sum", sum}, {"sum_squares", sumSq},
		{"mean", mean}, {"median", median},
	} {
		if keep(m.name) {
			tm(m.name, m.v)
		}
	}
	if !keep("histogram") {
		return
	}
	for _, h := range s.hist {
		if !strings.Contains(t.key, h.metric) {
			continue
		}
		i := 0
		for b, bound := range h.bins {
			freq := 0
			for ; i < n && (math.IsInf(bound, 1) || vals[i] < bound); i++ {
				freq++
			}
			if h.last[b] {
				v := float64(freq)
				if o := t.over; o.seen > 0 {
					v = jsRound(v * float64(o.seen) / float64(n))
				}
				*name = s.format((*name)[:0], s.timerNS, t.key, "histogram", h.names[b])
				out(*name, v)
			}
		}
		break
	}
}

// format is the graphite backend's format(namespace, key, ...extra):
// namespace, the key up to its first ';', the extras, joined by '.', then
// global_suffix, then the rest of the key from its first ';' (the tags).
func (s *Statsd) format(dst, ns []byte, key string, extra ...string) []byte {
	dst = append(dst, ns...)
	if len(ns) > 0 {
		dst = append(dst, '.')
	}
	tags := ""
	if i := strings.IndexByte(key, ';'); i >= 0 {
		key, tags = key[:i], key[i:]
	}
	dst = append(dst, key...)
	for _, e := range extra {
		dst = append(dst, '.')
		dst = append(dst, e...)
	}
	dst = append(dst, s.suffix...)
	return append(dst, tags...)
}

// sortSamples sorts a timer's samples in place, ascending; scratch is
// reused and returned. The samples are never NaN (a timer refuses them).
// Beyond a few hundred, it is a radix sort of the float64 bits made
// order-preserving (about five times faster than slices.Sort on 3,000
// samples): a flush of 2,000 timers holding 3,000 samples each must not
// take a core from ingestion for long.
func sortSamples(vals []float64, scratch []uint64) []uint64 {
	if len(vals) < 256 {
		slices.Sort(vals)
		return scratch
	}
	if cap(scratch) < len(vals) {
		scratch = make([]uint64, len(vals))
	}
	u := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals))
	// Flip so that unsigned order is numeric order: negatives (only -0
	// here) reversed below the positives. Count every byte in one pass.
	var cnt [8][256]int
	for i, v := range u {
		if v>>63 != 0 {
			v = ^v
		} else {
			v |= 1 << 63
		}
		u[i] = v
		for d := range 8 {
			cnt[d][byte(v>>(8*d))]++
		}
	}
	src, dst := u, scratch[:len(u)]
	for d := range 8 {
		shift, c := uint(8*d), &cnt[d]
		if c[byte(src[0]>>shift)] == len(src) {
			continue // every sample has this byte: nothing to move
		}
		pos := 0
		for i, n := range c {
			c[i] = pos
			pos += n
		}
		for _, v := range src {
			b := byte(v >> shift)
			dst[c[b]] = v
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &u[0] {
		copy(u, src)
	}
	for i, v := range u {
		if v>>63 != 0 {
			u[i] = v &^ (1 << 63)
		} else {
			u[i] = ^v
		}
	}
	return scratch
}
