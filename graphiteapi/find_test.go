package graphiteapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// putTree stores stats.gorets, stats.timers.glork.mean,
// stats.timers.glork.upper, stats_counts.gorets, and stats.timers as a
// leaf of its own too (a path that is also a branch).
func (e *testEnv) putTree() {
	for _, p := range []string{"stats.gorets", "stats.timers.glork.mean", "stats.timers.glork.upper", "stats_counts.gorets", "stats.timers"} {
		e.put(p, 10, e.now-10, 1)
	}
}

func TestFindTreeJSON(t *testing.T) {
	e := newTestEnv(t)
	e.putTree()
	for _, tc := range []struct{ query, want string }{
		{q("query", "stats.*"), `[{"text":"timers","id":"stats.timers","allowChildren":1,"expandable":1,"leaf":0},` +
			`{"text":"gorets","id":"stats.gorets","allowChildren":0,"expandable":0,"leaf":1}]`},
		{q("query", "*"), `[{"text":"stats","id":"stats","allowChildren":1,"expandable":1,"leaf":0},` +
			`{"text":"stats_counts","id":"stats_counts","allowChildren":1,"expandable":1,"leaf":0}]`},
		// The id keeps the query's prefix, wildcards and all.
		{q("query", "stat?.tim*.g*", "format", "treejson"), `[{"text":"glork","id":"stat?.tim*.glork","allowChildren":1,"expandable":1,"leaf":0}]`},
		{q("query", "stats.timers.glork.*", "wildcards", "1"), `[{"text":"*","id":"stats.timers.glork.*","allowChildren":0,"expandable":0,"leaf":1},` +
			`{"text":"mean","id":"stats.timers.glork.mean","allowChildren":0,"expandable":0,"leaf":1},` +
			`{"text":"upper","id":"stats.timers.glork.upper","allowChildren":0,"expandable":0,"leaf":1}]`},
		{q("query", "nothing.*"), `[]`},
		{q("query", "stats.*", "leavesOnly", "1"), `[{"text":"gorets","id":"stats.gorets","allowChildren":0,"expandable":0,"leaf":1},` +
			`{"text":"timers","id":"stats.timers","allowChildren":0,"expandable":0,"leaf":1}]`},
	} {
		code, ct, body := e.get("/metrics/find?" + tc.query)
		if code != http.StatusOK || ct != "application/json" || body != tc.want {
			t.Errorf("find?%s: %d %s\n got %s\nwant %s", tc.query, code, ct, body, tc.want)
		}
	}
}

// Grafana's metricFindQuery: POST /metrics/find, from/until in the URL,
// the query in an (unencoded) form body. graphite-web's cluster client
// asks /metrics/find/ with a trailing slash.
func TestFindGrafanaAndClusterForms(t *testing.T) {
	e := newTestEnv(t)
	e.putTree()
	want := `[{"text":"glork","id":"stats.timers.glork","allowChildren":1,"expandable":1,"leaf":0}]`
	code, _, body := e.post("/metrics/find?from=-6h&until=now", "query=stats.timers.*")
	if code != http.StatusOK || body != want {
		t.Errorf("POST find: %d %s, want %s", code, body, want)
	}
	if body := e.mustGet("/metrics/find/?" + q("query", "stats.timers.*", "from", "1700000000", "until", "-1")); body != want {
		t.Errorf("GET /metrics/find/: %s, want %s", body, want)
	}
	if body := e.mustGet("/metrics?" + q("query", "stats.timers.*")); body != want {
		t.Errorf("GET /metrics (graphite-web's alias of find): %s, want %s", body, want)
	}
}

func TestFindFormats(t *testing.T) {
	e := newTestEnv(t)
	e.putTree()
	for _, tc := range []struct{ query, want string }{
		{q("query", "stats.", "format", "completer"), `{"metrics":[{"path":"stats.gorets","name":"gorets","is_leaf":"1"},` +
			`{"path":"stats.timers.","name":"timers","is_leaf":"0"},{"path":"stats.timers","name":"timers","is_leaf":"1"}]}`},
		{q("query", "stats.timers.g", "format", "completer", "wildcards", "1"), `{"metrics":[{"path":"stats.timers.glork.","name":"glork","is_leaf":"0"}]}`},
		{q("query", "stats.timers.glork.*", "format", "completer", "wildcards", "1"), `{"metrics":[{"path":"stats.timers.glork.mean","name":"mean","is_leaf":"1"},` +
			`{"path":"stats.timers.glork.upper","name":"upper","is_leaf":"1"},{"name":"*"}]}`},
		{q("query", "*.*", "format", "nodelist", "position", "0"), `{"nodes":["stats","stats_counts"]}`},
		{q("query", "*.*", "format", "nodelist"), `{"nodes":["gorets","timers"]}`},
		// Matches are ordered by name, as graphite-web orders them.
		{q("query", "*.*", "leavesOnly", "1"), `[{"text":"gorets","id":"*.gorets","allowChildren":0,"expandable":0,"leaf":1},` +
			`{"text":"timers","id":"*.timers","allowChildren":0,"expandable":0,"leaf":1}]`},
		{q("query", "*.*", "leavesOnly", "1", "format", "completer"), `{"metrics":[{"path":"stats.gorets","name":"gorets","is_leaf":"1"},` +
			`{"path":"stats_counts.gorets","name":"gorets","is_leaf":"1"},{"path":"stats.timers","name":"timers","is_leaf":"1"}]}`},
		{q("query", "stats.g*", "format", "json"), fmt.Sprintf(`[{"path":"stats.gorets","is_leaf":true,"intervals":[{"end":%d,"start":%d}]}]`, e.now, e.now-7*86400)},
	} {
		if body := e.mustGet("/metrics/find?" + tc.query); body != tc.want {
			t.Errorf("find?%s:\n got %s\nwant %s", tc.query, body, tc.want)
		}
	}
}

// The cluster protocol's find answer, read back by Python's pickle.
func TestFindPickle(t *testing.T) {
	e := newTestEnv(t)
	e.putTree()
	code, ct, body := e.get("/metrics/find/?" + q("local", "1", "format", "pickle", "query", "stats.*"))
	if code != http.StatusOK || ct != "application/pickle" {
		t.Fatalf("find pickle: %d %s %q", code, ct, body)
	}
	want := fmt.Sprintf("[{'path': 'stats.gorets', 'is_leaf': True, 'intervals': [(%d, %d)]}, {'path': 'stats.timers', 'is_leaf': False}, "+
		"{'path': 'stats.timers', 'is_leaf': True, 'intervals': [(%d, %d)]}]", e.now-7*86400, e.now, e.now-7*86400, e.now)
	if got := pyLoads(t, []byte(body)); got != want {
		t.Errorf("pickle.loads(find):\n got %s\nwant %s", got, want)
	}
}

func TestFindBadRequests(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct{ query, want string }{
		{"", "missing required parameter 'query'"},
		{q("query", ""), "required parameter 'query' is empty"},
		{q("query", "a.*", "format", "xml"), `invalid value "xml" for parameter format`},
		{q("query", "a.*", "format", "msgpack"), "format msgpack is not supported"},
		{q("query", "a.*", "leavesOnly", "yes"), `invalid int value "yes" for parameter leavesOnly`},
		{q("query", "a.*", "from", "-3m"), `invalid value "-3m" for parameter from`},
		{q("query", "a.*", "tz", "Nowhere/Land"), `invalid value "Nowhere/Land" for parameter tz`},
		{q("query", "a.{b"), `invalid value "a.{b" for parameter query`},
		{q("query", "a..b"), "empty segment"},
	} {
		code, _, body := e.get("/metrics/find?" + tc.query)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("find?%s: %d %q, want 400 containing %q", tc.query, code, body, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	e := newTestEnv(t)
	e.putTree()
	for _, tc := range []struct{ query, want string }{
		{q("query", "stats.*"), `{"results":["stats.gorets","stats.timers"]}`},
		{q("query", "stats.*", "query", "stats_counts.*", "query", "stats.timers.*.*"),
			`{"results":["stats.gorets","stats.timers","stats.timers.glork.mean","stats.timers.glork.upper","stats_counts.gorets"]}`},
		{q("query", "stats.*", "query", "*.gorets", "groupByExpr", "1"),
			`{"results":{"*.gorets":["stats.gorets","stats_counts.gorets"],"stats.*":["stats.gorets","stats.timers"]}}`},
		{q("query", "stats.timers.*", "leavesOnly", "1"), `{"results":[]}`},
		{q("query", "stats.timers.*"), `{"results":["stats.timers.glork"]}`},
		{"", `{"results":[]}`},
	} {
		if body := e.mustGet("/metrics/expand?" + tc.query); body != tc.want {
			t.Errorf("expand?%s:\n got %s\nwant %s", tc.query, body, tc.want)
		}
	}
	code, _, body := e.get("/metrics/expand?" + q("query", "a", "groupByExpr", "x"))
	if code != http.StatusBadRequest || !strings.Contains(body, "groupByExpr") {
		t.Errorf("expand groupByExpr=x: %d %q, want 400 naming groupByExpr", code, body)
	}
}

func TestIndexVersionFunctionsTags(t *testing.T) {
	e := newTestEnv(t)
	e.putTree()
	if body := e.mustGet("/metrics/index.json"); body != `["stats.gorets","stats.timers","stats.timers.glork.mean","stats.timers.glork.upper","stats_counts.gorets"]` {
		t.Errorf("index.json: %s", body)
	}
	if body := e.mustGet("/version"); body != Version+"\n" {
		t.Errorf("version: %q, want %q", body, Version+"\n")
	}
	body := e.mustGet("/functions")
	var fns map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fns); err != nil {
		t.Errorf("functions: not a JSON object: %v: %.200s", err, body)
	}
	for _, path := range []string{"/tags", "/tags/autoComplete/tags?tagPrefix=a", "/tags/autoComplete/values?tag=name", "/events/get_data?from=-1h"} {
		if body := e.mustGet(path); body != "[]" {
			t.Errorf("%s: %s, want []", path, body)
		}
	}
	code, _, body := e.get("/functions/noSuchFunction")
	if code != http.StatusNotFound || !strings.Contains(body, "noSuchFunction") {
		t.Errorf("functions/noSuchFunction: %d %q, want 404 naming it", code, body)
	}
}
