package expr

import (
	"errors"
	"fmt"
	"slices"
)

// aggregateFunc is sumSeries, averageSeries, maxSeries and minSeries:
// graphite-web's aggregate() over every series of every argument.
func aggregateFunc(fn string) func(*call) ([]*Series, error) {
	return func(c *call) ([]*Series, error) {
		var all []*Series
		for _, l := range c.seriesLists("seriesLists") {
			all = append(all, l...)
		}
		return aggregate(all, fn), nil
	}
}

// aggregate combines series point by point after bringing them to a common
// step; a point is null when every input is null there. The result is named
// "<fn>Series(<path expressions>)".
func aggregate(list []*Series, fn string) []*Series {
	cs := consolidate(list)
	start, end, step, ok := normalize(cs)
	if !ok {
		return nil
	}
	f := aggFuncs[fn]
	rows := zipLongest(valuesOf(cs))
	vals := make([]float64, len(rows))
	for i, row := range rows {
		if len(nonNull(row)) == 0 {
			vals[i] = nan
			continue
		}
		vals[i] = f(row)
	}
	name := fmt.Sprintf("%sSeries(%s)", fn, formatPathExpressions(list))
	return []*Series{newSeries(name, start, end, step, vals)}
}

// group returns the series of all its arguments as one list.
func group(c *call) ([]*Series, error) {
	var out []*Series
	for _, l := range c.seriesLists("seriesLists") {
		out = append(out, l...)
	}
	return out, nil
}

// percent is graphite-web's safeMul(safeDiv(v, total), 100.0).
func percent(v, total float64) float64 {
	if isNull(v) || isNull(total) || total == 0 {
		return nan
	}
	return v / total * 100
}

func percentRows(a, b []float64) []float64 {
	rows := zipLongest([][]float64{a, b})
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = percent(r[0], r[1])
	}
	return out
}

func sumRows(list []*consolidated) []float64 {
	rows := zipLongest(valuesOf(list))
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = safeSum(r)
	}
	return out
}

// asPercent is each series as a percentage of a total: the sum of the
// series (no total), a number, one series, one series per input (matched by
// sorted name), or, with nodes, per group of series whose nodes agree.
func asPercent(c *call) ([]*Series, error) {
	list := consolidate(c.seriesList("seriesList"))
	if _, _, _, ok := normalize(list); !ok {
		return nil, nil
	}
	total, hasTotal := c.value("total")
	if nodes := c.values("nodes"); len(nodes) > 0 {
		return asPercentByNodes(list, total, hasTotal, nodes)
	}
	var totalValues []float64
	var totalText string
	switch {
	case !hasTotal:
		totalValues = sumRows(list)
		totalText = "sumSeries(" + formatPathExpressions(seriesOf(list)) + ")"
	case total.kind == kindSeries:
		if n := len(total.series); n != 1 && n != len(list) {
			return nil, fmt.Errorf("the total must be missing, a number, one series or as many series as the first argument (%d), not %d series", len(list), n)
		}
		if len(total.series) == len(list) {
			return asPercentMatched(list, consolidate(total.series)), nil
		}
		tl := consolidate(total.series)
		normalize(append(append([]*consolidated{}, list...), tl...))
		totalValues = tl[0].values()
		totalText = tl[0].Name
	case total.kind == kindNumber:
		totalValues = make([]float64, len(list[0].Values))
		for i := range totalValues {
			totalValues[i] = total.num.Value
		}
		totalText = total.num.pyString()
	default:
		return nil, fmt.Errorf("the total must be a number or a series list, not a %s", total.kind)
	}
	out := make([]*Series, len(list))
	for i, s := range list {
		text := totalText
		if text == "" {
			text = s.PathExpression
		}
		name := fmt.Sprintf("asPercent(%s,%s)", s.Name, text)
		out[i] = newSeries(name, s.Start, s.End, s.Step, percentRows(s.values(), totalValues))
	}
	return out, nil
}

// asPercentMatched pairs series and totals by sorted name.
func asPercentMatched(list, totals []*consolidated) []*Series {
	a, b := sortedByName(list), sortedByName(totals)
	out := make([]*Series, len(a))
	for i := range a {
		start, end, step, _ := normalize([]*consolidated{a[i], b[i]})
		name := fmt.Sprintf("asPercent(%s,%s)", a[i].Name, b[i].Name)
		out[i] = newSeries(name, start, end, step, percentRows(a[i].values(), b[i].values()))
	}
	return out
}

// errNoWindow is graphite-web failing (an unbound local) on a total group
// with no series and no earlier window to borrow.
var errNoWindow = errors.New("a total group has no matching series and no window to report it over")

// asPercentByNodes groups series (and totals) by the nodes they name and
// divides each series by its group's total; graphite-web reports a missing
// side as "MISSING" with null values over the last window it computed.
func asPercentByNodes(list []*consolidated, total value, hasTotal bool, nodes []value) ([]*Series, error) {
	var keys []string
	meta := map[string][]*consolidated{}
	for _, s := range list {
		k := aggKey(s.Series, nodes)
		if _, ok := meta[k]; !ok {
			keys = append(keys, k)
		}
		meta[k] = append(meta[k], s)
	}
	var start, end, step int64
	haveWindow := false
	totals := map[string]*consolidated{}
	groupTotal := func(members []*consolidated) *consolidated {
		if len(members) == 1 {
			return members[0]
		}
		name := "sumSeries(" + formatPathExpressions(seriesOf(members)) + ")"
		start, end, step, _ = normalize(members)
		haveWindow = true
		return &consolidated{Series: newSeries(name, start, end, step, sumRows(members)), vpp: 1}
	}
	switch {
	case !hasTotal:
		for _, k := range keys {
			totals[k] = groupTotal(meta[k])
		}
	case total.kind == kindSeries:
		groups := map[string][]*consolidated{}
		var order []string
		for _, s := range consolidate(total.series) {
			k := aggKey(s.Series, nodes)
			if _, ok := groups[k]; !ok {
				order = append(order, k)
				if _, ok := meta[k]; !ok {
					keys = append(keys, k)
				}
			}
			groups[k] = append(groups[k], s)
		}
		for _, k := range order {
			totals[k] = groupTotal(groups[k])
		}
	default:
		return nil, fmt.Errorf("with nodes, the total must be None or a series list, not a %s", total.kind)
	}
	var out []*Series
	for _, k := range keys {
		members, ok := meta[k]
		if !ok {
			t := totals[k]
			if !haveWindow {
				return nil, errNoWindow
			}
			name := fmt.Sprintf("asPercent(MISSING,%s)", t.Name)
			out = append(out, newSeries(name, start, end, step, nulls(len(t.values()))))
			continue
		}
		for _, s := range members {
			t, ok := totals[k]
			if !ok {
				if !haveWindow {
					return nil, errNoWindow
				}
				name := fmt.Sprintf("asPercent(%s,MISSING)", s.Name)
				out = append(out, newSeries(name, start, end, step, nulls(len(s.values()))))
				continue
			}
			start, end, step, _ = normalize([]*consolidated{s, t})
			haveWindow = true
			name := fmt.Sprintf("asPercent(%s,%s)", s.Name, t.Name)
			out = append(out, newSeries(name, start, end, step, percentRows(s.values(), t.values())))
		}
	}
	return out, nil
}

func nulls(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = nan
	}
	return out
}

func seriesOf(list []*consolidated) []*Series {
	out := make([]*Series, len(list))
	for i, s := range list {
		out[i] = s.Series
	}
	return out
}

func sortedByName(list []*consolidated) []*consolidated {
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b *consolidated) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
