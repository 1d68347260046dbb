package graphiteapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"ringrelay/graphiteapi/expr"
)

// renderJSON writes graphite-web's renderViewJson:
// [{"target": name, "tags": {...}, "datapoints": [[value|null, ts], ...]}],
// consolidated to maxDataPoints as graphite-web does it (consolidate),
// with series left out under noNullPoints when no point is left.
func renderJSON(series []*expr.Series, req *renderRequest) []byte {
	var timeRange int64
	if len(series) > 0 {
		lo, hi := series[0].Start, series[0].End
		for _, s := range series {
			lo, hi = min(lo, s.Start), max(hi, s.End)
		}
		timeRange = hi - lo
	}
	size := 2
	for _, s := range series {
		size += 64 + 2*len(s.Name) + 28*len(s.Values)
	}
	b := make([]byte, 0, size) // sized once: a day of 10 s points is 8,640 each
	b = append(b, '[')
	first := true
	for _, s := range series {
		vals, ts := consolidate(s, req.maxDataPoints, timeRange, req.xFilesFactor)
		if req.noNullPoints {
			vals, ts = dropNulls(vals, ts)
			if len(vals) == 0 {
				continue
			}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"target":`...)
		b = appendJSONString(b, s.Name)
		b = append(b, `,"tags":`...)
		tags, _ := json.Marshal(seriesTags(s.Name))
		b = append(b, tags...)
		b = append(b, `,"datapoints":[`...)
		for i := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendJSONFloat(b, vals[i])
			b = append(b, ',')
			b = strconv.AppendInt(b, ts[i], 10)
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	}
	return append(b, ']')
}

func dropNulls(vals []float64, ts []int64) ([]float64, []int64) {
	var v2 []float64
	var t2 []int64
	for i, v := range vals {
		if !math.IsNaN(v) {
			v2, t2 = append(v2, v), append(t2, ts[i])
		}
	}
	return v2, t2
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// appendJSONFloat writes v as graphite-web's JSON does: null for NaN
// (a missing value), 1e9999 for infinity (which JSON parsers read back
// as infinity), else Python's repr.
func appendJSONFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "null"...)
	case math.IsInf(v, 1):
		return append(b, "1e9999"...)
	case math.IsInf(v, -1):
		return append(b, "-1e9999"...)
	}
	return appendPyFloat(b, v)
}

// appendPyFloat writes v as Python's repr(float) does: the shortest
// digits that read back, positional for 1e-4 <= |v| < 1e16 (with ".0"
// when whole), else exponent form ("1e-05", "1.5e+16").
func appendPyFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "nan"...)
	case math.IsInf(v, 1):
		return append(b, "inf"...)
	case math.IsInf(v, -1):
		return append(b, "-inf"...)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 && !(v == 0 && math.Signbit(v)) {
		// Whole numbers (counts, most gauges) print fastest as integers.
		b = strconv.AppendInt(b, int64(v), 10)
		return append(b, ".0"...)
	}
	if a := math.Abs(v); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	}
	n := len(b)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	if !bytes.ContainsAny(b[n:], ".") {
		b = append(b, ".0"...)
	}
	return b
}

// seriesTags are the tags graphite-web gives a series: {"name": name},
// or for a tagged path "a.b;k=v" its name and tags. Names that look like
// function calls are not parsed (as graphite-web leaves them).
func seriesTags(name string) map[string]string {
	tags := map[string]string{"name": name}
	if !strings.Contains(name, ";") || strings.Contains(name, "(") {
		return tags
	}
	parts := strings.Split(name, ";")
	tags["name"] = parts[0]
	for _, kv := range parts[1:] {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			tags[k] = v
		}
	}
	return tags
}

// consolidate returns the values and timestamps renderViewJson writes for
// s. With maxDataPoints 1, all values become one point. Otherwise, when
// the request's time range (over all series) holds more than
// maxDataPoints steps of s: valuesPerPoint = ceil(range/step /
// maxDataPoints); the start is nudged forward so that buckets align from
// call to call, dropping nudge/step - 1 leading values (graphite-web's
// own arithmetic, off by one as it is); then each run of valuesPerPoint
// values becomes one, by the series' consolidation function over its
// non-null values, null unless nonNull/valuesPerPoint >= xFilesFactor.
// Timestamps run from the start by step*valuesPerPoint up to End.
func consolidate(s *expr.Series, maxDataPoints int, timeRange int64, xff float64) ([]float64, []int64) {
	start, vals, vpp := s.Start, s.Values, 1
	switch {
	case s.Step <= 0:
		// No grid to consolidate on (a function's malformed result).
	case maxDataPoints == 1 && len(vals) > 0:
		vpp = len(vals)
	case maxDataPoints > 1:
		n := float64(timeRange) / float64(s.Step)
		if float64(maxDataPoints) < n {
			vpp = int(math.Ceil(n / float64(maxDataPoints)))
			spp := int64(vpp) * s.Step
			nudge := spp + pyMod(start, s.Step) - pyMod(start, spp)
			start += nudge
			if lose := int(nudge/s.Step) - 1; lose > 0 {
				vals = vals[min(lose, len(vals)):]
			}
		}
	}
	if vpp > 1 {
		vals = consolidateValues(vals, vpp, s.ConsolidationFunc, xff)
	}
	ts := make([]int64, 0, len(vals))
	for t := start; t <= s.End && len(ts) < len(vals); t += s.Step * int64(vpp) {
		ts = append(ts, t)
	}
	return vals[:len(ts)], ts
}

func pyMod(a, b int64) int64 {
	m := a % b
	if m != 0 && (m < 0) != (b < 0) {
		m += b
	}
	return m
}

// consolidationFuncs are graphite-web's TimeSeries consolidation
// functions over a bucket's values (avg_zero's nulls already zeros).
var consolidationFuncs = map[string]func([]float64) float64{
	"sum":      pySum,
	"average":  func(v []float64) float64 { return pySum(v) / float64(len(v)) },
	"avg":      func(v []float64) float64 { return pySum(v) / float64(len(v)) },
	"avg_zero": func(v []float64) float64 { return pySum(v) / float64(len(v)) },
	"max": func(v []float64) float64 {
		m := v[0]
		for _, x := range v[1:] {
			if x > m {
				m = x
			}
		}
		return m
	},
	"min": func(v []float64) float64 {
		m := v[0]
		for _, x := range v[1:] {
			if x < m {
				m = x
			}
		}
		return m
	},
	"first": func(v []float64) float64 { return v[0] },
	"last":  func(v []float64) float64 { return v[len(v)-1] },
}

// pySum adds left to right, as Python's sum does (so the floats match).
func pySum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

func consolidateValues(vals []float64, vpp int, fn string, xff float64) []float64 {
	if fn == "" {
		fn = "average"
	}
	cf, ok := consolidationFuncs[fn]
	if !ok {
		cf = consolidationFuncs["average"]
	}
	out := make([]float64, 0, (len(vals)+vpp-1)/vpp)
	buf := make([]float64, 0, vpp)
	for i := 0; i < len(vals); i += vpp {
		buf = buf[:0]
		nonNull := 0
		for _, v := range vals[i:min(i+vpp, len(vals))] {
			switch {
			case !math.IsNaN(v):
				buf = append(buf, v)
				nonNull++
			case fn == "avg_zero":
				buf = append(buf, 0)
			}
		}
		if nonNull > 0 && float64(nonNull)/float64(vpp) >= xff {
			out = append(out, cf(buf))
		} else {
			out = append(out, math.NaN())
		}
	}
	return out
}

// renderRaw writes graphite-web's raw format: per series
// "name,start,end,step|v1,v2,...\n" with Python reprs and None.
func renderRaw(series []*expr.Series) []byte {
	var b []byte
	for _, s := range series {
		b = append(b, s.Name...)
		for _, n := range []int64{s.Start, s.End, s.Step} {
			b = append(b, ',')
			b = strconv.AppendInt(b, n, 10)
		}
		b = append(b, '|')
		for i, v := range s.Values {
			if i > 0 {
				b = append(b, ',')
			}
			if math.IsNaN(v) {
				b = append(b, "None"...)
			} else {
				b = appendPyFloat(b, v)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// renderCSV writes graphite-web's csv format: "name,YYYY-MM-DD HH:MM:SS,value"
// per point in loc, empty for null, CRLF line ends (Python's excel dialect).
func renderCSV(series []*expr.Series, loc *time.Location) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	for _, s := range series {
		for i, v := range s.Values {
			ts := time.Unix(s.Start+int64(i)*s.Step, 0).In(loc).Format("2006-01-02 15:04:05")
			val := ""
			if !math.IsNaN(v) {
				val = string(appendPyFloat(nil, v))
			}
			_ = w.Write([]string{s.Name, ts, val})
		}
	}
	w.Flush()
	return buf.Bytes()
}

// renderPickle writes what graphite-web's renderViewPickle writes (the
// cluster protocol's render answer): a list of dicts name, start, end,
// step, values (None for null), pathExpression, valuesPerPoint,
// consolidationFunc, xFilesFactor.
func renderPickle(series []*expr.Series, xff float64) ([]byte, error) {
	list := make([]any, 0, len(series))
	for _, s := range series {
		cf := s.ConsolidationFunc
		if cf == "" {
			cf = "average"
		}
		pe := s.PathExpression
		if pe == "" {
			pe = s.Name
		}
		list = append(list, pickleDict{
			{"name", s.Name},
			{"start", s.Start},
			{"end", s.End},
			{"step", s.Step},
			{"values", s.Values},
			{"pathExpression", pe},
			{"valuesPerPoint", 1},
			{"consolidationFunc", cf},
			{"xFilesFactor", xff},
		})
	}
	return appendPickle(nil, list)
}
