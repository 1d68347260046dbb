package graphiteapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ringrelay/graphiteapi/expr"
)

// renderRequest is a parsed /render request.
type renderRequest struct {
	targets          []string
	format           string
	from, until, now int64
	loc              *time.Location
	maxDataPoints    int // 0: not given
	noNullPoints     bool
	xFilesFactor     float64
}

// handleRender serves /render as graphite-web's renderView does for
// format=json|raw|csv|pickle; graphs (png, svg, pdf) are refused.
func (a *API) handleRender(w http.ResponseWriter, r *http.Request, p params) error {
	req, err := a.parseRender(p)
	if err != nil {
		return err
	}
	series, err := a.evaluate(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	switch req.format {
	case "json":
		return writeBody(w, "application/json", renderJSON(series, req))
	case "raw":
		return writeBody(w, "text/plain", renderRaw(series))
	case "csv":
		return writeBody(w, "text/csv", renderCSV(series, req.loc))
	case "pickle":
		b, err := renderPickle(series, req.xFilesFactor)
		if err != nil {
			return err
		}
		return writeBody(w, "application/pickle", b)
	}
	return badRequestf("invalid value %q for parameter format", req.format)
}

func writeBody(w http.ResponseWriter, contentType string, b []byte) error {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, err := w.Write(b)
	return err
}

// renderFormats are the formats /render answers; graphite-web's other
// ones get a 400 that says so.
var renderFormats = map[string]bool{"json": true, "raw": true, "csv": true, "pickle": true}

// parseRender reads the parameters as graphite-web's parseOptions does:
// targets from "target" (else "target[]"), the legacy "pickle" and
// "rawData" flags before "format", maxDataPoints, noNullPoints,
// xFilesFactor and the times.
func (a *API) parseRender(p params) (*renderRequest, error) {
	req := &renderRequest{targets: p["target"]}
	if len(req.targets) == 0 {
		req.targets = p["target[]"]
	}
	switch {
	case p.has("format"):
		req.format = p.get("format")
	case p.has("rawData"):
		req.format = "raw"
	case p.has("pickle"):
		req.format = "pickle"
	}
	if !renderFormats[req.format] {
		what := "no format"
		if req.format != "" {
			what = "format=" + req.format
		}
		return nil, badRequestf("%s: rendering graphs (png, svg, pdf) is not supported; use format=json, raw, csv or pickle", what)
	}
	var err error
	if req.from, req.until, req.now, req.loc, err = a.times(p, "-1d"); err != nil {
		return nil, err
	}
	if p.has("maxDataPoints") {
		n, err := strconv.Atoi(p.get("maxDataPoints"))
		if err != nil || n < 1 {
			return nil, badRequestf("invalid value %q for parameter maxDataPoints: want a whole number of at least 1", p.get("maxDataPoints"))
		}
		req.maxDataPoints = n
	}
	req.noNullPoints = p.has("noNullPoints")
	if p.has("xFilesFactor") {
		f, err := strconv.ParseFloat(p.get("xFilesFactor"), 64)
		if err != nil || f < 0 || f > 1 {
			return nil, badRequestf("invalid value %q for parameter xFilesFactor: want a number in 0..1", p.get("xFilesFactor"))
		}
		req.xFilesFactor = f
	}
	return req, nil
}

// evaluate returns every target's series in request order, each
// target's sorted as its expression leaves them. A target that is a
// plain path pattern is fetched as it is (its pathExpression is the
// target, as graphite-web's cluster protocol needs); any other is parsed
// and evaluated by package expr. Blank targets are skipped.
func (a *API) evaluate(ctx context.Context, req *renderRequest) ([]*expr.Series, error) {
	f := &fetcher{r: a.r, now: req.now, b: &budget{maxSeries: a.cfg.MaxSeries, maxPoints: a.cfg.MaxPoints}}
	var out []*expr.Series
	for _, t := range req.targets {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		var ss []*expr.Series
		var err error
		if isPathPattern(t) {
			ss, err = f.fetch(ctx, t, req.from, req.until)
		} else {
			ss, err = a.evalExpr(ctx, f, t, req)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	return out, nil
}

// isPathPattern reports whether a target can only be a path pattern: no
// call, no quote, no space, no keyword argument. (A bad glob among them
// gets the glob's error.)
func isPathPattern(t string) bool {
	return !strings.ContainsAny(t, "()\"' =")
}

// evalExpr parses and evaluates one target. Errors of the sink stay 500s;
// every other failure (parse errors, unknown functions, bad arguments)
// is the client's and a 400 naming the target.
func (a *API) evalExpr(ctx context.Context, f *fetcher, target string, req *renderRequest) ([]*expr.Series, error) {
	e, err := expr.Parse(target)
	if err != nil {
		return nil, badRequestf("target %q: %v", target, err)
	}
	c := &expr.Context{From: req.from, Until: req.until, Now: req.now, Fetch: f.fetch}
	ss, err := expr.Eval(ctx, c, e)
	if err != nil {
		var se *storeError
		var br *badRequest
		var uf *expr.UnknownFunctionError
		switch {
		case errors.As(err, &se), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return nil, err
		case errors.As(err, &br):
			return nil, err
		case errors.As(err, &uf):
			return nil, badRequestf("target %q: unknown function %q", target, uf.Name)
		}
		return nil, badRequestf("target %q: %v", target, err)
	}
	return ss, nil
}
