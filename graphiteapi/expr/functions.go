package expr

import (
	"encoding/json"
	"slices"
	"sync"
)

// function is one supported function: graphite-web's signature, group and
// parameters (what /functions shows), and its implementation.
type function struct {
	signature   string // graphite-web's "function" field, from its Python signature
	group       string
	description string
	params      []param
	run         func(*call) ([]*Series, error)
}

// Parameter shorthands, spelled as graphite-web declares them.
var (
	pSeriesList  = param{name: "seriesList", typ: "seriesList", required: true}
	pSeriesLists = param{name: "seriesLists", typ: "seriesList", required: true, multiple: true}
)

// registry maps every supported name (aliases included) to its function;
// it is built once and never changed.
func registry() map[string]*function {
	registryOnce.Do(func() { registryMap = buildRegistry() })
	return registryMap
}

var (
	registryOnce sync.Once
	registryMap  map[string]*function
)

func buildRegistry() map[string]*function {
	agg := func(fn, desc string) *function {
		return &function{
			group: "Combine", description: desc, params: []param{pSeriesLists}, run: aggregateFunc(fn),
		}
	}
	pct := &function{
		signature: "(seriesList, total=None, *nodes)", group: "Combine",
		description: "Each series as a percentage of a total: the sum of the series, a number, one series, " +
			"one series per input (matched by name), or per group of series that share the given nodes.",
		params: []param{pSeriesList, {name: "total", typ: "any"}, {name: "nodes", typ: "nodeOrTag", multiple: true}},
		run:    asPercent,
	}
	sum := agg("sum", "The sum of the series at each point; series of different steps are first brought to their least common multiple step.")
	avg := agg("average", "The average of the non-null values of the series at each point.")
	deltaParams := []param{pSeriesList, {name: "maxValue", typ: "float"}, {name: "minValue", typ: "float"}}
	fs := map[string]*function{
		"sumSeries":     sum,
		"sum":           sum,
		"averageSeries": avg,
		"avg":           avg,
		"maxSeries":     agg("max", "The greatest value of the series at each point."),
		"minSeries":     agg("min", "The least value of the series at each point."),
		"group": {
			group: "Combine", description: "All the series of all the arguments as one list.",
			params: []param{{name: "seriesLists", typ: "seriesList", multiple: true}}, run: group,
		},
		"asPercent": pct,
		"pct":       pct,
		"alias": {
			signature: "(seriesList, newName)", group: "Alias", description: "Names every series newName.",
			params: []param{pSeriesList, {name: "newName", typ: "string", required: true}}, run: alias,
		},
		"aliasByNode": {
			signature: "(seriesList, *nodes)", group: "Alias",
			description: "Names every series by the nodes of its path picked by index (negative counts from the end); " +
				"a name with functions in it uses its first path expression.",
			params: []param{pSeriesList, {name: "nodes", typ: "nodeOrTag", required: true, multiple: true}},
			run:    aliasByNode,
		},
		"aliasSub": {
			signature: "(seriesList, search, replace)", group: "Alias",
			description: "Names every series by a regular-expression substitution on its name (\\1 or \\g<name> in replace).",
			params:      []param{pSeriesList, {name: "search", typ: "string", required: true}, {name: "replace", typ: "string", required: true}},
			run:         aliasSub,
		},
		"scale": {
			signature: "(seriesList, factor)", group: "Transform", description: "Multiplies every value by factor.",
			params: []param{pSeriesList, {name: "factor", typ: "float", required: true}}, run: scale,
		},
		"offset": {
			signature: "(seriesList, factor)", group: "Transform", description: "Adds factor to every non-null value.",
			params: []param{pSeriesList, {name: "factor", typ: "float", required: true}}, run: offset,
		},
		"absolute": {
			signature: "(seriesList)", group: "Transform", description: "The absolute value of every value.",
			params: []param{pSeriesList}, run: absolute,
		},
		"derivative": {
			signature: "(seriesList)", group: "Transform", description: "The change from the previous value.",
			params: []param{pSeriesList}, run: derivative,
		},
		"nonNegativeDerivative": {
			signature: "(seriesList, maxValue=None, minValue=None)", group: "Transform",
			description: "The change from the previous value of a counter: a decrease is a wrap past maxValue " +
				"(or from minValue), or without them a reset, which is null.",
			params: deltaParams, run: nonNegativeDerivative,
		},
		"perSecond": {
			signature: "(seriesList, maxValue=None, minValue=None)", group: "Transform",
			description: "nonNegativeDerivative divided by the step: a counter's rate per second.",
			params:      deltaParams, run: perSecond,
		},
		"integral": {
			signature: "(seriesList)", group: "Transform", description: "The running sum of the values; nulls stay null.",
			params: []param{pSeriesList}, run: integral,
		},
		"summarize": {
			signature: "(seriesList, intervalString, func='sum', alignToFrom=False)", group: "Transform",
			description: "Reduces every series to buckets of intervalString with func; buckets align to " +
				"multiples of the interval, or to the start with alignToFrom.",
			params: []param{
				pSeriesList,
				{name: "intervalString", typ: "interval", required: true, suggestions: []any{"10min", "1h", "1d"}},
				{name: "func", typ: "aggFunc", def: "sum", options: aggFuncOptions()},
				{name: "alignToFrom", typ: "boolean", def: false},
			},
			run: summarize,
		},
		"movingAverage": {
			signature: "(seriesList, windowSize, xFilesFactor=None)", group: "Calculate",
			description: "The average of the windowSize points (a count, or an interval such as \"5min\") before " +
				"each point, reading data from before the window so the first points are full.",
			params: []param{
				pSeriesList,
				{name: "windowSize", typ: "intOrInterval", required: true,
					suggestions: []any{5, 7, 10, "1min", "5min", "10min", "30min", "1hour"}},
				{name: "xFilesFactor", typ: "float"},
			},
			run: movingAverage,
		},
		"highestMax": {
			signature: "(seriesList, n)", group: "Filter Series",
			description: "The n series with the greatest maximum, greatest first.",
			params:      []param{pSeriesList, {name: "n", typ: "integer", required: true}}, run: highestMax,
		},
		"limit": {
			signature: "(seriesList, n)", group: "Filter Series", description: "The first n series.",
			params: []param{pSeriesList, {name: "n", typ: "integer", required: true}}, run: limit,
		},
		"sortByMaxima": {
			signature: "(seriesList)", group: "Sorting", description: "The series ordered by their maximum, greatest first.",
			params: []param{pSeriesList}, run: sortByMaxima,
		},
		"keepLastValue": {
			signature: "(seriesList, limit=inf)", group: "Transform",
			description: "Fills runs of at most limit nulls with the last value before them.",
			params:      []param{pSeriesList, {name: "limit", typ: "intOrInf", def: json.Number("1e9999")}},
			run:         keepLastValue,
		},
		"transformNull": {
			signature: "(seriesList, default=0, referenceSeries=None)", group: "Transform",
			description: "Replaces nulls by default; with referenceSeries, only where one of them has a value.",
			params:      []param{pSeriesList, {name: "default", typ: "float", def: 0}, {name: "referenceSeries", typ: "seriesList"}},
			run:         transformNull,
		},
		"constantLine": {
			signature: "(value)", group: "Special", description: "A line at value across the request's window.",
			params: []param{{name: "value", typ: "float", required: true}}, run: constantLine,
		},
	}
	for _, f := range []*function{sum, avg, fs["maxSeries"], fs["minSeries"], fs["group"]} {
		f.signature = "(*seriesLists)"
	}
	return fs
}

// Functions describes the supported functions for /functions, in
// graphite-web's JSON shape (name → {name, function, description, module,
// group, params}); aliases such as sum and avg are entries of their own.
func Functions() map[string]FunctionInfo {
	out := make(map[string]FunctionInfo, len(registry()))
	for name, f := range registry() {
		params := make([]ParamInfo, len(f.params))
		for i, p := range f.params {
			params[i] = ParamInfo{
				Name: p.name, Type: p.typ, Required: p.required, Default: p.def, Multiple: p.multiple,
				Options: slices.Clone(p.options), Suggestions: slices.Clone(p.suggestions),
			}
		}
		out[name] = FunctionInfo{
			Name: name, Function: name + f.signature, Description: f.description,
			Module: "graphite.render.functions", Group: f.group, Params: params,
		}
	}
	return out
}
