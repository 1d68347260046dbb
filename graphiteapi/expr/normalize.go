package expr

import "strings"

// consolidated is a series read through graphite-web's consolidating
// iterator: every vpp consecutive values become one, by the series'
// consolidation function, null when none of them is non-null (the default
// xFilesFactor, 0). graphite-web sets valuesPerPoint on the series object
// itself, so a later normalize changes how an earlier one reads; keeping the
// vpp beside the series lets the functions do the same.
type consolidated struct {
	*Series
	vpp int
}

func consolidate(list []*Series) []*consolidated {
	out := make([]*consolidated, len(list))
	for i, s := range list {
		out[i] = &consolidated{Series: s, vpp: 1}
	}
	return out
}

// values returns the series' values as the iterator yields them; the last
// group may be short.
func (s *consolidated) values() []float64 {
	if s.vpp <= 1 {
		return s.Values
	}
	fn := consolidationFuncs[s.ConsolidationFunc]
	if fn == nil {
		fn = safeAvg
	}
	out := make([]float64, 0, (len(s.Values)+s.vpp-1)/s.vpp)
	for i := 0; i < len(s.Values); i += s.vpp {
		group := s.Values[i:min(i+s.vpp, len(s.Values))]
		if s.ConsolidationFunc == "avg_zero" {
			out = append(out, safeAvgZeroGroup(group))
			continue
		}
		out = append(out, fn(group))
	}
	return out
}

// safeAvgZeroGroup averages a group counting nulls as zero, but is null when
// the whole group is null.
func safeAvgZeroGroup(group []float64) float64 {
	if len(nonNull(group)) == 0 {
		return nan
	}
	return safeAvgZero(group)
}

// consolidationFuncs are the reducers a series' ConsolidationFunc names.
var consolidationFuncs = map[string]aggFunc{
	"":        safeAvg,
	"average": safeAvg,
	"avg":     safeAvg,
	"sum":     safeSum,
	"max":     safeMax,
	"min":     safeMin,
	"first": func(row []float64) float64 {
		vs := nonNull(row)
		if len(vs) == 0 {
			return nan
		}
		return vs[0]
	},
	"last": safeLast,
}

// normalize brings series of different steps to their least common multiple
// step, as graphite-web's normalize does: each is consolidated by lcm/step,
// start is the earliest start, end the latest end less the remainder of
// (end-start) by the step. It returns ok false for no series.
func normalize(list []*consolidated) (start, end, step int64, ok bool) {
	if len(list) == 0 {
		return 0, 0, 0, false
	}
	step = list[0].Step
	for _, s := range list[1:] {
		step = lcm(step, s.Step)
	}
	start, end = list[0].Start, list[0].End
	for _, s := range list {
		s.vpp = int(step / s.Step)
		start = min(start, s.Start)
		end = max(end, s.End)
	}
	end -= (end - start) % step
	return start, end, step, true
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func lcm(a, b int64) int64 {
	if a == b || b == 0 {
		return a
	}
	if a == 0 {
		return b
	}
	return a / gcd(a, b) * b
}

// zipLongest returns the rows of the value lists side by side, the shorter
// ones padded with null, as Python's zip_longest does.
func zipLongest(lists [][]float64) [][]float64 {
	n := 0
	for _, l := range lists {
		n = max(n, len(l))
	}
	rows := make([][]float64, n)
	for i := range rows {
		row := make([]float64, len(lists))
		for j, l := range lists {
			if i < len(l) {
				row[j] = l[i]
			} else {
				row[j] = nan
			}
		}
		rows[i] = row
	}
	return rows
}

// valuesOf returns each series' values as consolidated now.
func valuesOf(list []*consolidated) [][]float64 {
	out := make([][]float64, len(list))
	for i, s := range list {
		out[i] = s.values()
	}
	return out
}

// formatPathExpressions joins the distinct path expressions of the series in
// order, as graphite-web names aggregates ("sumSeries(a.*,b.c)").
func formatPathExpressions(list []*Series) string {
	var seen []string
	for _, s := range list {
		found := false
		for _, p := range seen {
			if p == s.PathExpression {
				found = true
				break
			}
		}
		if !found {
			seen = append(seen, s.PathExpression)
		}
	}
	return strings.Join(seen, ",")
}

// derive returns a copy of s with a new name and values; like graphite-web's
// TimeSeries.copy, the copy's path expression is its new name.
func derive(s *Series, name string, values []float64) *Series {
	cp := *s
	cp.Name = name
	cp.PathExpression = name
	cp.Values = values
	return &cp
}

// newSeries is a fresh series as graphite-web's TimeSeries constructor makes
// it: path expression = name, default consolidation.
func newSeries(name string, start, end, step int64, values []float64) *Series {
	return &Series{Name: name, PathExpression: name, Start: start, End: end, Step: step, Values: values}
}

// mapValues applies f to every value of s into a new slice.
func mapValues(s *Series, f func(float64) float64) []float64 {
	out := make([]float64, len(s.Values))
	for i, v := range s.Values {
		out[i] = f(v)
	}
	return out
}
