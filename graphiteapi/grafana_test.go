package graphiteapi

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/sinks"
)

var updateGrafanaGolden = flag.Bool("update-grafana-golden", false,
	"rewrite testdata/grafana/*.json from a real graphite-web (see testdata/grafana/gen.sh)")

// sliceReader is a sinks.Reader over fixed points, for goldens whose
// times must not move (the memory sink expires by the wall clock).
type sliceReader struct {
	pts  []sinks.Point
	rets []sinks.Retention
}

var _ sinks.Reader = (*sliceReader)(nil)

func (r *sliceReader) Find(ctx context.Context, g *sinks.Glob) ([]sinks.Node, error) {
	return g.Nodes(maps.Keys(r.paths())), nil
}

func (r *sliceReader) paths() map[string]bool {
	m := map[string]bool{}
	for _, p := range r.pts {
		m[p.Path] = true
	}
	return m
}

func (r *sliceReader) Fetch(ctx context.Context, path string, res, from, until int64) ([]sinks.Point, error) {
	var out []sinks.Point
	for _, p := range r.pts {
		if p.Path == path && p.Resolution == res && from <= p.Start && p.Start < until {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b sinks.Point) int { return int(a.Start - b.Start) })
	return out, nil
}

func (r *sliceReader) Retentions() []sinks.Retention { return r.rets }

// grafanaT0 is the end of the golden data: 2023-11-14 22:10:00 UTC.
const grafanaT0 = 1699999800

// grafanaReader holds ten minutes of 10 s bins before grafanaT0, with
// gaps, kept "for 100 years" so that any wall clock reads them at 10 s.
func grafanaReader(t *testing.T) *sliceReader {
	rets, err := sinks.ParseTimes([]string{"10s:36500d"})
	if err != nil {
		t.Fatal(err)
	}
	r := &sliceReader{rets: rets}
	add := func(path string, k int, count int64, sum float64) {
		r.pts = append(r.pts, sinks.Point{Path: path, Resolution: 10, Start: grafanaT0 - 590 + 10*int64(k),
			Count: count, Sum: sum, Min: sum / float64(count), Max: sum / float64(count), Last: sum / float64(count)})
	}
	for k := range 60 {
		add("stats.gorets", k, 1, float64(k%5)+0.5)
		add("stats_counts.gorets", k, 1, float64(k%5*10))
		if k%4 != 1 {
			add("stats.timers.glork.mean", k, 2, float64(200+2*k))
			add("stats.timers.glork.upper", k, 1, float64(300-k))
		}
	}
	return r
}

// grafanaCall is one request as Grafana's Graphite data source sends it.
type grafanaCall struct {
	name   string // golden file testdata/grafana/NAME.json
	method string
	path   string // with the URL query
	form   string // POST body
	noTags bool   // compare without "tags" (see TestGraphiteWebCluster)
}

var grafanaWindow = fmt.Sprintf("from=%d&until=%d", grafanaT0-600, grafanaT0)

var grafanaCalls = []grafanaCall{
	// Query editor and variables: POST /metrics/find, from/until in the
	// URL, the query in the body.
	{name: "find_root", method: "POST", path: "/metrics/find?from=-6h&until=now", form: "query=*"},
	{name: "find_stats", method: "POST", path: "/metrics/find?from=-6h&until=now", form: "query=stats.*"},
	{name: "find_glork", method: "POST", path: "/metrics/find?from=-6h&until=now", form: "query=stats.timers.glork.*"},
	{name: "expand", method: "GET", path: "/metrics/expand?query=stats.*.*&" + grafanaWindow},
	// The frontend's query: every target wrapped in aliasSub, a POST form
	// with maxDataPoints.
	{name: "render_frontend", method: "POST", path: "/render", noTags: true, form: "target=" + urlQueryEscape(`aliasSub(stats.gorets, "(^.*$)", "\1 A")`) +
		"&target=" + urlQueryEscape(`aliasSub(sumSeries(stats.timers.glork.*), "(^.*$)", "\1 B")`) + "&" + grafanaWindow + "&format=json&maxDataPoints=25"},
	// The backend's query: one target per request, no aliasSub.
	{name: "render_backend", method: "POST", path: "/render", form: grafanaWindow + "&format=json&maxDataPoints=7&target=stats.timers.glork.*"},
	{name: "render_backend_all_points", method: "POST", path: "/render", form: grafanaWindow + "&format=json&maxDataPoints=1000&target=stats_counts.gorets"},
}

func urlQueryEscape(s string) string { return strings.TrimPrefix(q("x", s), "x=") }

func doCall(t *testing.T, base string, c grafanaCall) []byte {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.form))
	if err != nil {
		t.Fatal(err)
	}
	if c.method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s %s: %d %v: %.300s", c.method, c.path, c.form, resp.StatusCode, err, b)
	}
	return b
}

// TestGrafanaGoldens answers the calls Grafana's Graphite data source
// makes and compares them with graphite-web's answers to the same calls
// over the same data, kept in testdata/grafana (gen.sh there rewrites
// them from a real graphite-web through -update-grafana-golden).
func TestGrafanaGoldens(t *testing.T) {
	r := grafanaReader(t)
	api := New(r, DefaultConfig(), zap.NewNop())
	ours := httptest.NewServer(api)
	t.Cleanup(ours.Close)
	if *updateGrafanaGolden {
		gw := startGraphiteWeb(t, strings.TrimPrefix(ours.URL, "http://"))
		for _, c := range grafanaCalls {
			if err := os.WriteFile(filepath.Join("testdata", "grafana", c.name+".json"), doCall(t, gw.url, c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range grafanaCalls {
		want, err := os.ReadFile(filepath.Join("testdata", "grafana", c.name+".json"))
		if err != nil {
			t.Fatalf("golden %s: %v (regenerate with testdata/grafana/gen.sh)", c.name, err)
		}
		got := doCall(t, ours.URL, c)
		var g, o any
		if err := json.Unmarshal(want, &g); err != nil {
			t.Fatalf("golden %s: %v", c.name, err)
		}
		if err := json.Unmarshal(got, &o); err != nil {
			t.Fatalf("%s: our answer is not JSON: %v: %.300s", c.name, err, got)
		}
		if diff := jsonDiff(g, o, "", c.noTags); diff != "" {
			t.Errorf("%s (%s %s %s): %s\ngraphite-web %.500s\n        ours %.500s", c.name, c.method, c.path, c.form, diff, want, got)
		}
	}
}
