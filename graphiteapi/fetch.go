package graphiteapi

import (
	"context"
	"fmt"
	"math"
	"sync"

	"ringrelay/aggregator"
	"ringrelay/graphiteapi/expr"
	"ringrelay/sinks"
)

// storeError is a failure of the sink itself (not of the request): the
// API answers it with a 500 and logs it.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// budget counts what one request has read against the configured bounds.
// Expression functions may fetch from several goroutines, hence the lock.
type budget struct {
	maxSeries, maxPoints int

	mu             sync.Mutex
	series, points int
}

func (b *budget) take(pattern string, series, points int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.series += series
	b.points += series * points
	if b.series > b.maxSeries {
		return badRequestf("pattern %q: the request reads more than max_series=%d series; narrow the pattern", pattern, b.maxSeries)
	}
	if b.points > b.maxPoints {
		return badRequestf("pattern %q: the request reads more than max_points=%d points; narrow the window or the pattern", pattern, b.maxPoints)
	}
	return nil
}

// fetcher reads series as whisper files would serve them, for one
// request: now is the request's "now" (resolution choice and clamping are
// relative to it, as for whisper), b its bounds.
type fetcher struct {
	r   sinks.Reader
	now int64
	b   *budget
}

// leaves returns the stored series (leaf paths) pattern names, sorted.
func (f *fetcher) leaves(ctx context.Context, pattern string) ([]string, error) {
	g, err := sinks.CompileGlob(pattern)
	if err != nil {
		return nil, badRequestf("%v", err)
	}
	nodes, err := f.r.Find(ctx, g)
	if err != nil {
		return nil, &storeError{fmt.Errorf("failed to find %q: %w", pattern, err)}
	}
	var out []string
	for _, n := range nodes {
		if n.Leaf {
			out = append(out, n.Path)
		}
	}
	return out, nil
}

// grid is the step and the bins [start, end) a fetch of [from, until]
// returns, or ok=false when the window lies outside what the sink keeps.
type grid struct {
	start, end, step int64
}

func (g grid) points() int { return int((g.end - g.start) / g.step) }

// chooseGrid picks the resolution and the bins as whisper's file_fetch
// does: nothing when from is after now or until before the oldest kept
// time; from and until clamped to [now - longest retention, now]; the
// finest resolution whose retention reaches back to from; the first bin
// the one after from's ("from" exclusive), the last the one holding
// until ("until" inclusive), at least one bin.
func chooseGrid(rets []sinks.Retention, from, until, now int64) (grid, bool) {
	if len(rets) == 0 {
		return grid{}, false
	}
	oldest := now - sinks.Seconds(rets[len(rets)-1].Retention)
	if from > now || until < oldest {
		return grid{}, false
	}
	from = max(from, oldest)
	until = min(until, now)
	step := sinks.Seconds(rets[len(rets)-1].Resolution)
	for _, r := range rets {
		if sinks.Seconds(r.Retention) >= now-from {
			step = sinks.Seconds(r.Resolution)
			break
		}
	}
	g := grid{step: step}
	g.start = floorDiv(from, step)*step + step
	g.end = floorDiv(until, step)*step + step
	if g.start == g.end {
		g.end += step
	}
	return g, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// fetch returns the series pattern names over [from, until], one per
// stored leaf, sorted by name, on the whisper grid; bins with no stored
// point are NaN. Each series' PathExpression is pattern.
func (f *fetcher) fetch(ctx context.Context, pattern string, from, until int64) ([]*expr.Series, error) {
	paths, err := f.leaves(ctx, pattern)
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	g, ok := chooseGrid(f.r.Retentions(), from, until, f.now)
	if !ok {
		return nil, nil
	}
	if err := f.b.take(pattern, len(paths), g.points()); err != nil {
		return nil, err
	}
	out := make([]*expr.Series, 0, len(paths))
	for _, p := range paths {
		s, err := f.series(ctx, p, g)
		if err != nil {
			return nil, err
		}
		s.PathExpression = pattern
		out = append(out, s)
	}
	return out, nil
}

// series reads one path's bins on g; each value is the bin's value by
// the reducer the graphite accumulator uses for its path (Point.Value).
func (f *fetcher) series(ctx context.Context, path string, g grid) (*expr.Series, error) {
	vals := make([]float64, g.points())
	for i := range vals {
		vals[i] = math.NaN()
	}
	m := aggregator.ReducerFor(path)
	if gr, ok := f.r.(sinks.GridReader); ok {
		if err := gr.FetchGrid(ctx, path, g.step, g.start, m, vals); err != nil {
			return nil, &storeError{fmt.Errorf("failed to fetch %q at %ds: %w", path, g.step, err)}
		}
		return &expr.Series{Name: path, PathExpression: path, Start: g.start, End: g.end, Step: g.step, Values: vals}, nil
	}
	pts, err := f.r.Fetch(ctx, path, g.step, g.start, g.end)
	if err != nil {
		return nil, &storeError{fmt.Errorf("failed to fetch %q at %ds: %w", path, g.step, err)}
	}
	for i := range pts {
		if k := (pts[i].Start - g.start) / g.step; pts[i].Start >= g.start && k < int64(len(vals)) {
			vals[k] = sinks.Reduce(m, &pts[i])
		}
	}
	return &expr.Series{Name: path, PathExpression: path, Start: g.start, End: g.end, Step: g.step, Values: vals}, nil
}
