package expr

import (
	"fmt"
	"math"
)

// scale multiplies every value by factor.
func scale(c *call) ([]*Series, error) {
	f := c.float("factor", 1)
	return eachSeries(c, func(s *Series) *Series {
		return derive(s, fmt.Sprintf("scale(%s,%s)", s.Name, pyG(f)), mapValues(s, func(v float64) float64 { return v * f }))
	}), nil
}

// offset adds factor to every non-null value.
func offset(c *call) ([]*Series, error) {
	f := c.float("factor", 0)
	return eachSeries(c, func(s *Series) *Series {
		return derive(s, fmt.Sprintf("offset(%s,%s)", s.Name, pyG(f)), mapValues(s, func(v float64) float64 { return v + f }))
	}), nil
}

// absolute takes every value's absolute value.
func absolute(c *call) ([]*Series, error) {
	return eachSeries(c, func(s *Series) *Series {
		return derive(s, fmt.Sprintf("absolute(%s)", s.Name), mapValues(s, math.Abs))
	}), nil
}

// derivative is the difference from the previous value; null where either is.
func derivative(c *call) ([]*Series, error) {
	return eachSeries(c, func(s *Series) *Series {
		out := make([]float64, len(s.Values))
		prev := nan
		for i, v := range s.Values {
			out[i] = v - prev // NaN when either is null
			prev = v
		}
		return derive(s, fmt.Sprintf("derivative(%s)", s.Name), out)
	}), nil
}

// integral is the running sum of the non-null values; nulls stay null.
func integral(c *call) ([]*Series, error) {
	return eachSeries(c, func(s *Series) *Series {
		out := make([]float64, len(s.Values))
		cur := 0.0
		for i, v := range s.Values {
			if isNull(v) {
				out[i] = nan
				continue
			}
			cur += v
			out[i] = cur
		}
		return derive(s, fmt.Sprintf("integral(%s)", s.Name), out)
	}), nil
}

// nonNegativeDerivative is derivative for counters: a decrease is a wrap
// (counted from maxValue+1, or from minValue) or, without either, a reset
// that gives null; values above maxValue or below minValue are null.
func nonNegativeDerivative(c *call) ([]*Series, error) {
	return counterDeltas(c, "nonNegativeDerivative", func(d float64, _ *Series) float64 { return d })
}

// perSecond is nonNegativeDerivative divided by the step, rounded to six
// decimals as graphite-web rounds it.
func perSecond(c *call) ([]*Series, error) {
	return counterDeltas(c, "perSecond", func(d float64, s *Series) float64 { return round6(d / float64(s.Step)) })
}

// counterDeltas is every series' nonNegativeDelta (with the call's
// maxValue and minValue) through per, named fn(series).
func counterDeltas(c *call, fn string, per func(d float64, s *Series) float64) ([]*Series, error) {
	maxV, hasMax := c.optFloat("maxValue")
	minV, hasMin := c.optFloat("minValue")
	return eachSeries(c, func(s *Series) *Series {
		out := make([]float64, len(s.Values))
		prev := nan
		for i, v := range s.Values {
			var d float64
			d, prev = nonNegativeDelta(v, prev, maxV, hasMax, minV, hasMin)
			out[i] = per(d, s)
		}
		return derive(s, fmt.Sprintf("%s(%s)", fn, s.Name), out)
	}), nil
}

// nonNegativeDelta is graphite-web's _nonNegativeDelta; it returns the delta
// (NaN for null) and the value to remember as the previous one. A null value
// is null here; graphite-web 1.1 on Python 3 fails on one when maxValue or
// minValue is given.
func nonNegativeDelta(v, prev, maxV float64, hasMax bool, minV float64, hasMin bool) (float64, float64) {
	if !isNull(v) && (hasMax && v > maxV || hasMin && v < minV) {
		return nan, nan
	}
	if isNull(v) || isNull(prev) {
		return nan, v
	}
	switch {
	case v >= prev:
		return v - prev, v
	case hasMax:
		m := 0.0
		if hasMin {
			m = minV
		}
		return maxV + 1 + v - prev - m, v
	case hasMin:
		return v - minV, v
	}
	return nan, v
}

// keepLastValue fills runs of at most limit nulls with the value before
// them (a run at the end too); longer runs stay null.
func keepLastValue(c *call) ([]*Series, error) {
	limit := math.Inf(1)
	if v, ok := c.value("limit"); ok {
		limit = v.num.Value
	}
	return eachSeries(c, func(s *Series) *Series {
		out := append([]float64(nil), s.Values...)
		fill := func(from, to int, last float64) {
			if n := to - from; n > 0 && float64(n) <= limit && !isNull(last) {
				for i := from; i < to; i++ {
					out[i] = last
				}
			}
		}
		run, last := 0, nan
		for i, v := range s.Values {
			if isNull(v) {
				run++
				continue
			}
			fill(i-run, i, last)
			run, last = 0, v
		}
		fill(len(out)-run, len(out), last)
		return derive(s, fmt.Sprintf("keepLastValue(%s)", s.Name), out)
	}), nil
}

// transformNull replaces nulls by default; with referenceSeries, only where
// at least one reference series has a value.
func transformNull(c *call) ([]*Series, error) {
	def := c.float("default", 0)
	refs := c.seriesList("referenceSeries")
	var defaults []float64
	if len(refs) > 0 {
		lists := make([][]float64, len(refs))
		for i, r := range refs {
			lists[i] = r.Values
		}
		for _, row := range zipLongest(lists) {
			d := nan
			if len(nonNull(row)) > 0 {
				d = def
			}
			defaults = append(defaults, d)
		}
	}
	return eachSeries(c, func(s *Series) *Series {
		var out []float64
		name := fmt.Sprintf("transformNull(%s,%s)", s.Name, pyG(def))
		if len(refs) > 0 {
			name = fmt.Sprintf("transformNull(%s,%s,referenceSeries)", s.Name, pyG(def))
			for _, row := range zipLongest([][]float64{s.Values, defaults}) {
				out = append(out, orDefault(row[0], row[1]))
			}
		} else {
			out = mapValues(s, func(v float64) float64 { return orDefault(v, def) })
		}
		return derive(s, name, out)
	}), nil
}

func orDefault(v, d float64) float64 {
	if isNull(v) {
		return d
	}
	return v
}

// summarize reduces each series to buckets of an interval with an aggregation
// function; buckets are aligned to multiples of the interval, or to the
// series' start with alignToFrom.
func summarize(c *call) ([]*Series, error) {
	text := c.str("intervalString", "")
	interval, err := parseOffset(text)
	if err != nil {
		return nil, err
	}
	if interval <= 0 {
		return nil, fmt.Errorf("interval %q must be positive", text)
	}
	fn := c.str("func", "sum")
	agg, ok := aggFuncs[fn]
	if !ok {
		return nil, fmt.Errorf("unsupported aggregation function %q", fn)
	}
	alignToFrom := c.bool("alignToFrom", false)
	var out []*Series
	for _, s := range c.seriesList("seriesList") {
		start, end := s.Start, s.End
		if !alignToFrom {
			start = s.Start - pyMod(s.Start, interval)
			end = s.End - pyMod(s.End, interval) + interval
		}
		vals, alignedEnd := summarizeValues(s, agg, interval, start, end)
		if alignToFrom {
			end = alignedEnd
		}
		suffix := ""
		if alignToFrom {
			suffix = ", true"
		}
		ns := derive(s, fmt.Sprintf("summarize(%s, \"%s\", \"%s\"%s)", s.Name, text, fn, suffix), vals)
		ns.Start, ns.End, ns.Step = start, end, interval
		out = append(out, ns)
	}
	return out, nil
}

// summarizeValues walks the buckets [t, t+interval) from start while t < end;
// a bucket with no non-null point is null. As graphite-web does, a bucket
// reduces the points from the last one at or before its start (if it is this
// bucket's) to the last one inside it.
func summarizeValues(s *Series, agg aggFunc, interval, start, end int64) ([]float64, int64) {
	n := 0
	if s.Step > 0 && s.End > s.Start {
		n = int((s.End - s.Start + s.Step - 1) / s.Step)
	}
	n = min(n, len(s.Values))
	ts := func(i int) int64 { return s.Start + int64(i)*s.Step }
	var out []float64
	i := 0
	t := start
	for ; t < end; t += interval {
		first, nonNull := i, 0
		for i < n && ts(i) < t+interval {
			if ts(i) <= t {
				first = i
			}
			if ts(i) >= t && !isNull(s.Values[i]) {
				nonNull++
			}
			i++
		}
		if nonNull > 0 {
			out = append(out, agg(s.Values[first:i]))
		} else {
			out = append(out, nan)
		}
	}
	return out, t
}

// eachSeries maps every series of the "seriesList" argument.
func eachSeries(c *call, f func(*Series) *Series) []*Series {
	list := c.seriesList("seriesList")
	out := make([]*Series, len(list))
	for i, s := range list {
		out[i] = f(s)
	}
	return out
}
