package expr

import (
	"math"
	"strconv"

	"ringrelay/aggregator"
)

// The Python semantics graphite-web's results depend on: how it prints
// numbers into series names, rounds, takes a modulo and slices a list.

// pyFloatStr formats f as Python 3's str(float) does: the shortest repr,
// always with a fraction or an exponent ("100.0", "1e+16", "inf"); the
// graphite accumulator's formatting, which carbon's goldens pin.
func pyFloatStr(f float64) string { return string(aggregator.AppendPyRepr(nil, f)) }

// pyG formats f as Python's "%g" does (six significant digits).
func pyG(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

// round6 is Python's round(x, 6): correctly rounded, ties to even.
func round6(x float64) float64 {
	if isNull(x) || math.IsInf(x, 0) {
		return x
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 6, 64), 64)
	return r
}

// pyMod is Python's %: the result has the sign of the divisor.
func pyMod(a, b int64) int64 {
	m := a % b
	if m != 0 && (m < 0) != (b < 0) {
		m += b
	}
	return m
}

// pySliceEnd is where Python's list[:n] ends for a list of length l.
func pySliceEnd(n, l int) int {
	if n < 0 {
		return max(l+n, 0)
	}
	return min(n, l)
}
