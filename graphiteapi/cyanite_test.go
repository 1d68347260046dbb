package graphiteapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"ringrelay/sinks"
)

func TestCyanitePathsAndPing(t *testing.T) {
	e := newTestEnv(t)
	e.putTree()
	for _, tc := range []struct{ path, want string }{
		{"/cyanite/paths?query=stats.", `[{"path":"stats.gorets","leaf":true},{"path":"stats.timers","leaf":false},{"path":"stats.timers","leaf":true}]`},
		{"/paths?query=stats.timers.gl", `[{"path":"stats.timers.glork","leaf":false}]`},
		{"/paths", `[{"path":"stats","leaf":false},{"path":"stats_counts","leaf":false}]`},
		{"/paths?query=none.", `[]`},
		{"/ping", `{"response":"pong"}`},
		{"/cyanite/ping", `{"response":"pong"}`},
	} {
		if body := e.mustGet(tc.path); body != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.path, body, tc.want)
		}
	}
}

func TestCyaniteMetrics(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	n := e.now
	e.store.Write([]sinks.Point{{Path: "agg.x", Resolution: 10, Start: n - 10, Count: 4, Sum: 20, Min: 1, Max: 9, Last: 3}})
	for _, tc := range []struct{ query, want string }{
		{q("path", "servers.web1.cpu", "from", fmt.Sprint(n-60), "to", fmt.Sprint(n)),
			fmt.Sprintf(`{"from":%d,"to":%d,"step":10,"series":{"servers.web1.cpu":[1.0,2.0,null,4.0,null,6.0]}}`, n-50, n)},
		// Globs expand; every series shares the grid from the first to the last row.
		{q("path", "servers.*.cpu", "from", fmt.Sprint(n-30), "to", fmt.Sprint(n)),
			fmt.Sprintf(`{"from":%d,"to":%d,"step":10,"series":{"servers.web1.cpu":[4.0,null,6.0],"servers.web2.cpu":[null,null,10.0]}}`, n-20, n)},
		{q("path", "agg.x", "from", "-1min"), fmt.Sprintf(`{"from":%d,"to":%d,"step":10,"series":{"agg.x":[5.0]}}`, n-10, n)},
		{q("path", "agg.x", "from", "-1min", "agg", "sum"), fmt.Sprintf(`{"from":%d,"to":%d,"step":10,"series":{"agg.x":[20.0]}}`, n-10, n)},
		{q("path", "agg.x", "from", "-1min", "agg", "max"), fmt.Sprintf(`{"from":%d,"to":%d,"step":10,"series":{"agg.x":[9.0]}}`, n-10, n)},
		{q("path", "agg.x", "from", "-1min", "agg", "last"), fmt.Sprintf(`{"from":%d,"to":%d,"step":10,"series":{"agg.x":[3.0]}}`, n-10, n)},
		{q("path", "nothing.here", "from", fmt.Sprint(n-60), "to", fmt.Sprint(n)), fmt.Sprintf(`{"from":%d,"to":%d,"step":10,"series":{}}`, n-60, n)},
		{q("path", "agg.x", "from", fmt.Sprint(n-30*86400), "to", fmt.Sprint(n-20*86400)), `{"from":null,"to":null,"step":null,"series":{}}`},
	} {
		for _, route := range []string{"/cyanite/metrics?", "/metrics?"} {
			if body := e.mustGet(route + tc.query); body != tc.want {
				t.Errorf("%s%s:\n got %s\nwant %s", route, tc.query, body, tc.want)
			}
		}
	}
	for _, tc := range []struct{ query, want string }{
		{q("from", "-1h"), `{"error":"missing required parameter 'path'"}`},
		{q("path", "a.b"), `{"error":"missing required parameter 'from'"}`},
		{q("path", "a.b", "from", "-1h", "agg", "median"), `{"error":"invalid value \"median\" for parameter agg: want mean, sum, min, max or last"}`},
		{q("path", "a.{b", "from", "-1h"), `{"error":"pattern \"a.{b\": '{' without '}'"}`},
	} {
		code, _, body := e.get("/cyanite/metrics?" + tc.query)
		if code != http.StatusBadRequest || body != tc.want {
			t.Errorf("cyanite/metrics?%s: %d %s, want 400 %s", tc.query, code, body, tc.want)
		}
	}
	if code, _, body := e.get("/cyanite/metrics?" + q("path", "a.b", "from", "whenever")); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
		t.Errorf("cyanite/metrics from=whenever: %d %s, want 400 with an error key", code, body)
	}
}
