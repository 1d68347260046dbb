package aggregator

import "math"

// carbonState is graphite-carbon 1.1.7's carbon-aggregator buffering
// (carbon/aggregator/buffers.py and processor.py) without its timers: the
// owner feeds it datapoints and calls flush with the clock, which computes
// every buffer as carbon's periodic compute_value does. It does no locking:
// Graphite calls it under its own mutex.
type carbonState struct {
	maxIntervals int64 // MAX_AGGREGATION_INTERVALS
	maxBufs      int   // 0: no limit
	bufs         map[string]*carbonBuf
	order        []*carbonBuf // creation order, as carbon's dict keeps it
	free         [][]float64  // value slices of forgotten intervals, for reuse
	dropped      uint64       // values lost because maxBufs buffers were held
}

// carbonBuf is carbon's MetricBuffer: one aggregate metric, configured by
// the first rule that fed it until it is forgotten.
type carbonBuf struct {
	path   string
	freq   int64
	method Method
	ivs    []*carbonIv // creation order
}

// carbonIv is carbon's IntervalBuffer.
type carbonIv struct {
	start  float64 // ts - ts % freq, as Python computes it on a float
	vals   []float64
	active bool
}

// maxFreeVals bounds carbonState.free.
const maxFreeVals = 4096

func newCarbonState(maxIntervals, maxBufs int) carbonState {
	return carbonState{maxIntervals: int64(maxIntervals), maxBufs: maxBufs, bufs: make(map[string]*carbonBuf)}
}

// input is MetricBuffer.input for the aggregate m.Output, after
// get_buffer/configure_aggregation. It reports false when the buffer is
// new and maxBufs are held (the value is counted in dropped).
func (c *carbonState) input(m *RuleMatch, ts, v float64) bool {
	b := c.bufs[m.Output]
	if b == nil {
		if c.maxBufs > 0 && len(c.bufs) >= c.maxBufs {
			c.dropped++
			return false
		}
		b = &carbonBuf{path: m.Output, freq: m.Frequency, method: m.Method}
		c.bufs[m.Output] = b
		c.order = append(c.order, b)
	}
	start := ts - pyFloatMod(ts, float64(b.freq))
	var iv *carbonIv
	for i := len(b.ivs) - 1; i >= 0; i-- {
		if b.ivs[i].start == start {
			iv = b.ivs[i]
			break
		}
	}
	if iv == nil {
		iv = &carbonIv{start: start}
		if n := len(c.free); n > 0 {
			iv.vals, c.free = c.free[n-1][:0], c.free[:n-1]
		}
		b.ivs = append(b.ivs, iv)
	}
	iv.vals = append(iv.vals, v)
	iv.active = true
	return true
}

// carbonOut is one computed interval, copied out for computing after the
// owner's lock is released: its values are vals[off:off+n] of the arena
// passed to flush.
type carbonOut struct {
	path   string
	freq   int64
	method Method
	start  float64
	off, n int
}

// flush is compute_value of every buffer, in creation order, with the clock
// at now (unix seconds): each interval that got values since it was last
// computed is appended to out (its values to vals) and made inactive; then
// intervals older than MAX_AGGREGATION_INTERVALS frequencies before the
// current one are forgotten, and a buffer left without intervals with them.
func (c *carbonState) flush(now int64, out []carbonOut, vals []float64) ([]carbonOut, []float64) {
	keep := c.order[:0]
	for _, b := range c.order {
		current := now - floorMod(now, b.freq)
		age := float64(current - c.maxIntervals*b.freq)
		ivs := b.ivs[:0]
		for _, iv := range b.ivs {
			if iv.active {
				out = append(out, carbonOut{path: b.path, freq: b.freq, method: b.method, start: iv.start, off: len(vals), n: len(iv.vals)})
				vals = append(vals, iv.vals...)
				iv.active = false
			}
			if iv.start < age {
				if len(c.free) < maxFreeVals {
					c.free = append(c.free, iv.vals)
				}
				continue
			}
			ivs = append(ivs, iv)
		}
		clear(b.ivs[len(ivs):])
		b.ivs = ivs
		if len(ivs) == 0 {
			delete(c.bufs, b.path)
			continue
		}
		keep = append(keep, b)
	}
	clear(c.order[len(keep):])
	c.order = keep
	return out, vals
}

// bin computes one copied-out interval: its statistics and the method's
// value, as carbon computes it. It may reorder vals.
func (o *carbonOut) bin(vals []float64) Bin {
	v := vals[o.off : o.off+o.n]
	b := Bin{Path: o.path, Resolution: secondsDuration(o.freq), Start: int64(o.start), Count: int64(len(v)),
		Sum: pySum(v), Min: MethodMin.apply(v), Max: MethodMax.apply(v), Last: v[len(v)-1], Method: o.method}
	b.Value = o.method.apply(v) // last: percentiles sort v
	return b
}

// pyFloatMod is Python's float '%': the result has the sign of y.
func pyFloatMod(x, y float64) float64 {
	m := math.Mod(x, y)
	if m != 0 {
		if (y < 0) != (m < 0) {
			m += y
		}
	} else {
		m = math.Copysign(0, y)
	}
	return m
}

// floorMod is Python's int '%' for y > 0.
func floorMod(x, y int64) int64 {
	m := x % y
	if m < 0 {
		m += y
	}
	return m
}
