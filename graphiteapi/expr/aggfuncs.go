package expr

import (
	"math"
	"slices"
	"sort"
)

// aggFunc reduces a row of values (NaN is null) to one, NaN for null; the
// set and the null handling are graphite-web's (functions/aggfuncs.py).
type aggFunc func(row []float64) float64

var (
	nan = math.NaN()
	inf = math.Inf(1)
)

func isNull(v float64) bool { return math.IsNaN(v) }

// nonNull returns the row without its nulls.
func nonNull(row []float64) []float64 {
	out := make([]float64, 0, len(row))
	for _, v := range row {
		if !isNull(v) {
			out = append(out, v)
		}
	}
	return out
}

func safeSum(row []float64) float64 {
	vs := nonNull(row)
	if len(vs) == 0 {
		return nan
	}
	return pySum(vs)
}

// pySum adds left to right, as Python's sum() does (the order changes the
// last bits of a float sum).
func pySum(vs []float64) float64 {
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s
}

func safeAvg(row []float64) float64 {
	vs := nonNull(row)
	if len(vs) == 0 {
		return nan
	}
	return pySum(vs) / float64(len(vs))
}

func safeAvgZero(row []float64) float64 {
	if len(row) == 0 {
		return nan
	}
	s := 0.0
	for _, v := range row {
		if !isNull(v) {
			s += v
		}
	}
	return s / float64(len(row))
}

func safeMedian(row []float64) float64 {
	vs := nonNull(row)
	if len(vs) == 0 {
		return nan
	}
	sort.Float64s(vs)
	mid := len(vs) / 2
	if len(vs)%2 == 0 {
		return (vs[mid-1] + vs[mid]) / 2
	}
	return vs[mid]
}

func safeMin(row []float64) float64 {
	vs := nonNull(row)
	if len(vs) == 0 {
		return nan
	}
	return slices.Min(vs)
}

func safeMax(row []float64) float64 {
	vs := nonNull(row)
	if len(vs) == 0 {
		return nan
	}
	return slices.Max(vs)
}

func safeDiff(row []float64) float64 {
	vs := nonNull(row)
	if len(vs) == 0 {
		return nan
	}
	s := vs[0]
	for _, v := range vs[1:] {
		s += -v
	}
	return s
}

func safeStdDev(row []float64) float64 {
	vs := nonNull(row)
	if len(vs) == 0 {
		return nan
	}
	avg := pySum(vs) / float64(len(vs))
	s := 0.0
	for _, v := range vs {
		s += (v - avg) * (v - avg)
	}
	return math.Sqrt(s / float64(len(vs)))
}

func safeCount(row []float64) float64 { return float64(len(nonNull(row))) }

func safeRange(row []float64) float64 { return safeMax(row) - safeMin(row) }

// safeMultiply is null if any value is null, as safeMul(*row) is.
func safeMultiply(row []float64) float64 {
	if len(row) == 0 {
		return nan
	}
	p := 1.0
	for i, v := range row {
		if isNull(v) {
			return nan
		}
		if i == 0 {
			p = v
		} else {
			p *= v
		}
	}
	return p
}

func safeLast(row []float64) float64 {
	for i := len(row) - 1; i >= 0; i-- {
		if !isNull(row[i]) {
			return row[i]
		}
	}
	return nan
}

// aggFuncs are graphite-web's aggregation functions and their aliases.
var aggFuncs = map[string]aggFunc{
	"average":  safeAvg,
	"avg_zero": safeAvgZero,
	"median":   safeMedian,
	"sum":      safeSum,
	"min":      safeMin,
	"max":      safeMax,
	"diff":     safeDiff,
	"stddev":   safeStdDev,
	"count":    safeCount,
	"range":    safeRange,
	"multiply": safeMultiply,
	"last":     safeLast,
	"rangeOf":  safeRange,
	"avg":      safeAvg,
	"total":    safeSum,
	"current":  safeLast,
}

// aggFuncNames lists aggFuncs' names sorted, as /functions lists them.
func aggFuncNames() []string {
	names := make([]string, 0, len(aggFuncs))
	for n := range aggFuncs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// aggFuncOptions is aggFuncNames for a param's options.
func aggFuncOptions() []any {
	names := aggFuncNames()
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}
