package graphiteapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"ringrelay/aggregator"
	"ringrelay/sinks"
)

// The Cyanite API as brutasse's graphite-cyanite finder reads it (the
// classic pyr/cyanite 0.1 shapes): /ping, /paths?query=, and
// /metrics?path=...&from=&to=&agg=. Errors are {"error": reason}.

// handleMetrics serves bare /metrics on the API's own listener: with a
// path parameter it is Cyanite's /metrics, else graphite-web's (which is
// /metrics/find).
func (a *API) handleMetrics(w http.ResponseWriter, r *http.Request, p params) error {
	if p.has("path") {
		return a.handleCyaniteMetrics(w, r, p)
	}
	return a.handleFind(w, r, p)
}

// handleCyanitePing answers {"response":"pong"}, as Cyanite's API
// documentation and its 0.5 code do (0.1 answered {}; clients check the
// status).
func (a *API) handleCyanitePing(w http.ResponseWriter, r *http.Request, p params) error {
	return writeBody(w, "application/json", []byte(`{"response":"pong"}`))
}

type cyanitePath struct {
	Path string `json:"path"`
	Leaf bool   `json:"leaf"`
}

// handleCyanitePaths is Cyanite's prefix search: the nodes query+"*"
// matches (query "" is "*"), each {"path", "leaf"}, sorted by path.
func (a *API) handleCyanitePaths(w http.ResponseWriter, r *http.Request, p params) error {
	nodes, err := a.find(r.Context(), p.get("query")+"*", false)
	if err != nil {
		return cyaniteError(w, err)
	}
	out := make([]cyanitePath, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, cyanitePath{Path: n.path, Leaf: n.leaf})
	}
	return writeJSON(w, out)
}

// cyaniteAggs are the agg parameter's values, "" being the path's own
// reducer (the one /render uses).
var cyaniteAggs = map[string]func(p *sinks.Point) float64{
	"":     func(p *sinks.Point) float64 { return p.Value() },
	"mean": func(p *sinks.Point) float64 { return sinks.Reduce(aggregator.MethodAvg, p) },
	"sum":  func(p *sinks.Point) float64 { return sinks.Reduce(aggregator.MethodSum, p) },
	"min":  func(p *sinks.Point) float64 { return sinks.Reduce(aggregator.MethodMin, p) },
	"max":  func(p *sinks.Point) float64 { return sinks.Reduce(aggregator.MethodMax, p) },
	"last": func(p *sinks.Point) float64 { return p.Last },
}

// jsonFloat writes NaN as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) { return appendJSONFloat(nil, float64(f)), nil }

type cyaniteSeries struct {
	From   *int64                 `json:"from"`
	To     *int64                 `json:"to"`
	Step   *int64                 `json:"step"`
	Series map[string][]jsonFloat `json:"series"`
}

// handleCyaniteMetrics serves Cyanite's /metrics: the paths (globs
// expanded to leaves) from "from" (required) to "to" (default now), at
// the finest resolution whose retention reaches back to from. "from" is
// the first returned bin, "to" the last bin start at or before to; each
// series is null-filled on that grid. Nothing stored in the window gives
// {"from": from, "to": to, "step": step, "series": {}}; a window older
// than every retention gives nulls and no series, as Cyanite does.
func (a *API) handleCyaniteMetrics(w http.ResponseWriter, r *http.Request, p params) error {
	agg, ok := cyaniteAggs[p.get("agg")]
	if !ok {
		return cyaniteError(w, badRequestf("invalid value %q for parameter agg: want mean, sum, min, max or last", p.get("agg")))
	}
	if len(p["path"]) == 0 {
		return cyaniteError(w, badRequestf("missing required parameter 'path'"))
	}
	if !p.has("from") {
		return cyaniteError(w, badRequestf("missing required parameter 'from'"))
	}
	from, to, now, _, err := a.times(params{"from": p["from"], "until": untilOf(p)}, "")
	if err != nil {
		return cyaniteError(w, err)
	}
	rets := a.r.Retentions()
	g, ok := chooseGrid(rets, from, to, now)
	if !ok {
		return writeJSON(w, cyaniteSeries{Series: map[string][]jsonFloat{}})
	}
	step := g.step
	lo := floorDiv(from+step-1, step) * step // Cyanite reads rows at or after from
	hi := floorDiv(to, step) * step
	rows := map[string][]sinks.Point{}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	b := &budget{maxSeries: a.cfg.MaxSeries, maxPoints: a.cfg.MaxPoints}
	f := &fetcher{r: a.r, now: now, b: b}
	for _, pattern := range p["path"] {
		paths, err := f.leaves(r.Context(), pattern)
		if err != nil {
			return cyaniteError(w, err)
		}
		if err := b.take(pattern, len(paths), int((hi-lo)/step)+1); err != nil {
			return cyaniteError(w, err)
		}
		for _, path := range paths {
			pts, err := a.r.Fetch(r.Context(), path, step, lo, hi+step)
			if err != nil {
				return &storeError{fmt.Errorf("failed to fetch %q at %ds: %w", path, step, err)}
			}
			if len(pts) == 0 {
				continue
			}
			rows[path] = pts
			first, last = min(first, pts[0].Start), max(last, pts[len(pts)-1].Start)
		}
	}
	if len(rows) == 0 {
		return writeJSON(w, cyaniteSeries{From: &from, To: &hi, Step: &step, Series: map[string][]jsonFloat{}})
	}
	out := cyaniteSeries{From: &first, To: &hi, Step: &step, Series: map[string][]jsonFloat{}}
	for path, pts := range rows {
		vals := make([]jsonFloat, (last-first)/step+1)
		for i := range vals {
			vals[i] = jsonFloat(math.NaN())
		}
		for i := range pts {
			vals[(pts[i].Start-first)/step] = jsonFloat(agg(&pts[i]))
		}
		out.Series[path] = vals
	}
	return writeJSON(w, out)
}

// untilOf maps Cyanite's "to" (default now) onto graphite's "until".
func untilOf(p params) []string {
	if p.has("to") {
		return p["to"]
	}
	return []string{"now"}
}

// cyaniteError writes err as Cyanite does, {"error": reason}: 400 for
// the client's mistakes, 500 (logged by the caller's wrap) otherwise.
func cyaniteError(w http.ResponseWriter, err error) error {
	var br *badRequest
	if !errors.As(err, &br) {
		return err
	}
	b, _ := json.Marshal(map[string]string{"error": strings.TrimSpace(br.msg)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, werr := w.Write(b)
	return werr
}
