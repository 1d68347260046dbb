package graphiteapi

import (
	"fmt"
	"math"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"ringrelay/graphiteapi/expr"
	"ringrelay/sinks"
)

var nan = math.NaN()

// putCPU stores servers.web1.cpu = 1, 2, -, 4, -, 6 in the six 10 s bins
// ending at now, and servers.web2.cpu = 10 in the last one.
func (e *testEnv) putCPU() {
	e.put("servers.web1.cpu", 10, e.now-50, 1, 2, nan, 4, nan, 6)
	e.put("servers.web2.cpu", 10, e.now, 10)
}

func TestRenderJSON(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	n := e.now
	body := e.mustGet("/render?" + q("target", "servers.web1.cpu", "from", fmt.Sprint(n-60), "until", fmt.Sprint(n), "format", "json"))
	want := fmt.Sprintf(`[{"target":"servers.web1.cpu","tags":{"name":"servers.web1.cpu"},"datapoints":[[1.0,%d],[2.0,%d],[null,%d],[4.0,%d],[null,%d],[6.0,%d]]}]`,
		n-50, n-40, n-30, n-20, n-10, n)
	if body != want {
		t.Errorf("render json:\n got %s\nwant %s", body, want)
	}
}

// Several targets come back in request order, each one's series sorted
// by name; a pattern that matches nothing adds nothing.
func TestRenderTargetsAndGlobs(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{q("target", "servers.*.cpu", "from", "-1min", "format", "raw"), []string{"servers.web1.cpu", "servers.web2.cpu"}},
		{q("target", "servers.web2.cpu", "target", "servers.web1.cpu", "from", "-1min", "format", "raw"), []string{"servers.web2.cpu", "servers.web1.cpu"}},
		{q("target[]", "servers.web{2,1}.cpu", "from", "-1min", "format", "raw"), []string{"servers.web1.cpu", "servers.web2.cpu"}},
		{q("target", "servers.web[2-9].cpu", "target", "nothing.*", "from", "-1min", "format", "raw"), []string{"servers.web2.cpu"}},
		{q("target", "servers.web?.cpu", "target", " ", "from", "-1min", "format", "raw"), []string{"servers.web1.cpu", "servers.web2.cpu"}},
	} {
		body := e.mustGet("/render?" + tc.query)
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
			if line != "" {
				got = append(got, line[:strings.IndexByte(line, ',')])
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("render %s: series %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestRenderRawCSVAndPOST(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	n := e.now
	// Grafana posts the form; from/until may also sit in the URL.
	code, ct, body := e.post("/render?"+q("until", fmt.Sprint(n)), q("target", "servers.web1.cpu", "from", fmt.Sprint(n-60), "format", "raw"))
	want := fmt.Sprintf("servers.web1.cpu,%d,%d,10|1.0,2.0,None,4.0,None,6.0\n", n-50, n+10)
	if code != http.StatusOK || ct != "text/plain" || body != want {
		t.Errorf("raw: %d %q %q, want 200 text/plain %q", code, ct, body, want)
	}
	// The legacy rawData flag is format=raw.
	if got := e.mustGet("/render?" + q("target", "servers.web1.cpu", "from", fmt.Sprint(n-60), "until", fmt.Sprint(n), "rawData", "1")); got != want {
		t.Errorf("rawData: %q, want %q", got, want)
	}
	body = e.mustGet("/render?" + q("target", "servers.web2.cpu", "from", fmt.Sprint(n-20), "until", fmt.Sprint(n), "format", "csv"))
	ts := func(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05") }
	want = fmt.Sprintf("servers.web2.cpu,%s,\r\nservers.web2.cpu,%s,10.0\r\n", ts(n-10), ts(n))
	if body != want {
		t.Errorf("csv: %q, want %q", body, want)
	}
	// tz moves csv timestamps.
	body = e.mustGet("/render?" + q("target", "servers.web2.cpu", "from", fmt.Sprint(n-10), "until", fmt.Sprint(n), "format", "csv", "tz", "Asia/Kolkata"))
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	if want := "servers.web2.cpu," + time.Unix(n, 0).In(kolkata).Format("2006-01-02 15:04:05") + ",10.0\r\n"; body != want {
		t.Errorf("csv tz=Asia/Kolkata: %q, want %q", body, want)
	}
}

// The resolution is the finest whose retention reaches back to from; the
// grid starts one step after from and ends with the bin holding until.
func TestRenderResolutionAndGrid(t *testing.T) {
	e := newTestEnv(t)
	n := e.now
	e.put("a.b", 60, n-8*3600, 5)
	e.put("a.b", 10, n-3600, 7)
	for _, tc := range []struct {
		from, until int64
		want        string
	}{
		{n - 3600, n - 3590, fmt.Sprintf("a.b,%d,%d,10|None\n", n-3590, n-3580)},
		{n - 3601, n - 3600, fmt.Sprintf("a.b,%d,%d,10|7.0\n", n-3600, n-3590)},
		{n - 3605, n - 3603, fmt.Sprintf("a.b,%d,%d,10|7.0\n", n-3600, n-3590)},
		{n - 9*3600, n - 8*3600, fmt.Sprintf("a.b,%d,%d,60|", n-9*3600+60, n-8*3600+60) + strings.Repeat("None,", 59) + "5.0\n"},
		// until past now is clamped to now.
		{n - 20, n + 3600, fmt.Sprintf("a.b,%d,%d,10|None,None\n", n-10, n+10)},
	} {
		body := e.mustGet("/render?" + q("target", "a.b", "from", fmt.Sprint(tc.from), "until", fmt.Sprint(tc.until), "format", "raw"))
		if body != tc.want {
			t.Errorf("from now-%d until now-%d:\n got %q\nwant %q", n-tc.from, n-tc.until, body, tc.want)
		}
	}
	// A window older than every retention, or after now, has no series.
	for _, w := range [][2]int64{{n - 30*86400, n - 20*86400}, {n + 60, n + 120}} {
		if body := e.mustGet("/render?" + q("target", "a.b", "from", fmt.Sprint(w[0]), "until", fmt.Sprint(w[1]), "format", "json")); body != "[]" {
			t.Errorf("from %d until %d (now %d): %s, want []", w[0], w[1], n, body)
		}
	}
}

// Each point's value is the bin's by the path's reducer: sum for
// counts, min/max for lower/upper, else the mean.
func TestRenderReducers(t *testing.T) {
	e := newTestEnv(t)
	n := e.now
	for _, p := range []string{"stats_counts.x", "stats.timers.t.lower", "stats.timers.t.upper_90", "stats.gauges.g"} {
		e.store.Write([]sinks.Point{{Path: p, Resolution: 10, Start: n, Count: 4, Sum: 20, Min: 1, Max: 9, Last: 3}})
	}
	body := e.mustGet("/render?" + q("target", "stats*.*", "target", "stats.timers.t.*", "target", "stats.gauges.g", "from", fmt.Sprint(n-10), "until", fmt.Sprint(n), "format", "raw"))
	want := fmt.Sprintf("stats_counts.x,%[1]d,%[2]d,10|20.0\nstats.timers.t.lower,%[1]d,%[2]d,10|1.0\nstats.timers.t.upper_90,%[1]d,%[2]d,10|9.0\nstats.gauges.g,%[1]d,%[2]d,10|5.0\n", n, n+10)
	if body != want {
		t.Errorf("reducers:\n got %q\nwant %q", body, want)
	}
}

func TestRenderMaxDataPointsAndNoNullPoints(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	n := e.now
	base := q("target", "servers.web1.cpu", "from", fmt.Sprint(n-60), "until", fmt.Sprint(n), "format", "json")
	for _, tc := range []struct {
		extra string
		want  string
	}{
		// One point: every value consolidated, at the start.
		{"maxDataPoints=1", fmt.Sprintf("[[3.25,%d]]", n-50)},
		// Enough points: nothing changes.
		{"maxDataPoints=6", fmt.Sprintf("[[1.0,%d],[2.0,%d],[null,%d],[4.0,%d],[null,%d],[6.0,%d]]", n-50, n-40, n-30, n-20, n-10, n)},
		{"noNullPoints=1", fmt.Sprintf("[[1.0,%d],[2.0,%d],[4.0,%d],[6.0,%d]]", n-50, n-40, n-20, n)},
	} {
		body := e.mustGet("/render?" + base + "&" + tc.extra)
		if !strings.Contains(body, `"datapoints":`+tc.want+"}") {
			t.Errorf("%s: %s, want datapoints %s", tc.extra, body, tc.want)
		}
	}
	// noNullPoints drops a series left without points.
	e.put("empty.one", 10, n-3000, 1)
	body := e.mustGet("/render?" + q("target", "empty.one", "from", fmt.Sprint(n-60), "until", fmt.Sprint(n), "format", "json", "noNullPoints", ""))
	if body != "[]" {
		t.Errorf("noNullPoints of an all-null series: %s, want []", body)
	}
}

// consolidate follows graphite-web's renderViewJson arithmetic; the
// expectations were worked through graphite-web 1.1.8's code by hand and
// agree with TestGraphiteWebCluster's comparison against graphite-web.
func TestConsolidate(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		name     string
		s        expr.Series
		mdp      int
		xff      float64
		wantVals []float64
		wantTS   []int64
	}{
		{"none", expr.Series{Start: 1000, End: 1100, Step: 10, Values: ten}, 0, 0, ten,
			[]int64{1000, 1010, 1020, 1030, 1040, 1050, 1060, 1070, 1080, 1090}},
		// n=10 > 3: vpp=4, nudge 40, 3 values lost, buckets [4..7] [8..10].
		{"average", expr.Series{Start: 1000, End: 1100, Step: 10, Values: ten}, 3, 0, []float64{5.5, 9}, []int64{1040, 1080}},
		{"sum", expr.Series{Start: 1000, End: 1100, Step: 10, Values: ten, ConsolidationFunc: "sum"}, 3, 0, []float64{22, 27}, []int64{1040, 1080}},
		{"max", expr.Series{Start: 1000, End: 1100, Step: 10, Values: ten, ConsolidationFunc: "max"}, 3, 0, []float64{7, 10}, []int64{1040, 1080}},
		{"last", expr.Series{Start: 1000, End: 1100, Step: 10, Values: ten, ConsolidationFunc: "last"}, 3, 0, []float64{7, 10}, []int64{1040, 1080}},
		// start 1010: nudge = 40 + 0 - 10 = 30, 2 values lost.
		{"nudge", expr.Series{Start: 1010, End: 1110, Step: 10, Values: ten}, 3, 0, []float64{4.5, 8.5}, []int64{1040, 1080}},
		// The last bucket [8, 9, 10] has 3 of 4: not enough for xff 0.8.
		{"xff", expr.Series{Start: 1000, End: 1100, Step: 10, Values: ten}, 3, 0.8, []float64{5.5, nan}, []int64{1040, 1080}},
		{"nulls", expr.Series{Start: 1000, End: 1040, Step: 10, Values: []float64{nan, nan, 3, nan}}, 1, 0, []float64{3}, []int64{1000}},
		{"avg_zero", expr.Series{Start: 1000, End: 1040, Step: 10, Values: []float64{nan, nan, 3, nan}, ConsolidationFunc: "avg_zero"}, 1, 0, []float64{0.75}, []int64{1000}},
		{"no step", expr.Series{Start: 1000, End: 1000, Values: []float64{1, 2}}, 1, 0, []float64{1, 2}, []int64{1000, 1000}},
		{"all null", expr.Series{Start: 1000, End: 1040, Step: 10, Values: []float64{nan, nan, nan, nan}}, 1, 0, []float64{nan}, []int64{1000}},
	} {
		s := tc.s
		vals, ts := consolidate(&s, tc.mdp, s.End-s.Start, tc.xff)
		if !equalNaN(vals, tc.wantVals) || !slices.Equal(ts, tc.wantTS) {
			t.Errorf("%s: consolidate(maxDataPoints=%d) = %v at %v, want %v at %v", tc.name, tc.mdp, vals, ts, tc.wantVals, tc.wantTS)
		}
	}
}

func equalNaN(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return x == y || x != x && y != y })
}

func TestPyFloat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{1, "1.0"}, {0, "0.0"}, {-2.5, "-2.5"}, {0.1, "0.1"}, {1e-4, "0.0001"}, {1e-5, "1e-05"},
		{1.5e-7, "1.5e-07"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"}, {206.66666666666666, "206.66666666666666"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.Copysign(0, -1), "-0.0"}, {-7, "-7.0"}, {999999999999999, "999999999999999.0"},
	} {
		if got := string(appendPyFloat(nil, tc.v)); got != tc.want {
			t.Errorf("pyFloat(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := string(appendJSONFloat(nil, math.Inf(1))); got != "1e9999" {
		t.Errorf("JSON +Inf = %q, want 1e9999", got)
	}
}

// Every bad parameter is a 400 whose body names it.
func TestRenderBadRequests(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	for _, tc := range []struct {
		query, want string
	}{
		{q("target", "a.b", "format", "png"), "format=png: rendering graphs"},
		{q("target", "a.b", "format", "svg"), "format=svg: rendering graphs"},
		{q("target", "a.b"), "no format: rendering graphs"},
		{q("target", "a.b", "format", "msgpack"), "format=msgpack"},
		{q("target", "a.b", "format", "json", "from", "yesterdayish"), `invalid value "yesterdayish" for parameter from`},
		{q("target", "a.b", "format", "json", "until", "-5m"), `invalid value "-5m" for parameter until`},
		{q("target", "a.b", "format", "json", "from", "-1h", "until", "-1h"), "invalid empty time range"},
		{q("target", "a.b", "format", "json", "tz", "Mars/Olympus"), `invalid value "Mars/Olympus" for parameter tz`},
		{q("target", "a.b", "format", "json", "now", "soon"), `invalid value "soon" for parameter now`},
		{q("target", "a.b", "format", "json", "maxDataPoints", "many"), `invalid value "many" for parameter maxDataPoints`},
		{q("target", "a.b", "format", "json", "maxDataPoints", "0"), `invalid value "0" for parameter maxDataPoints`},
		{q("target", "a.b", "format", "json", "xFilesFactor", "2"), `invalid value "2" for parameter xFilesFactor`},
		{q("target", "a.{b", "format", "json"), `'{' without '}'`},
		{q("target", "noSuchFunction(servers.*.cpu)", "format", "json"), `unknown function "noSuchFunction"`},
		{q("target", "sumSeries(servers.*.cpu", "format", "json"), `target "sumSeries(servers.*.cpu"`},
	} {
		code, _, body := e.get("/render?" + tc.query)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("render?%s: %d %q, want 400 containing %q", tc.query, code, body, tc.want)
		}
	}
}

func TestRenderBounds(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxSeries = 1; c.MaxPoints = 100 })
	e.putCPU()
	for _, tc := range []struct{ query, want string }{
		{q("target", "servers.*.cpu", "from", "-1min", "format", "json"), "max_series=1"},
		{q("target", "servers.web1.cpu", "target", "servers.web2.cpu", "from", "-1min", "format", "json"), "max_series=1"},
		{q("target", "servers.web1.cpu", "from", "-1h", "format", "json"), "max_points=100"},
	} {
		code, _, body := e.get("/render?" + tc.query)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("render?%s: %d %q, want 400 containing %q", tc.query, code, body, tc.want)
		}
	}
	if body := e.mustGet("/render?" + q("target", "servers.web1.cpu", "from", "-1min", "format", "json")); !strings.Contains(body, "servers.web1.cpu") {
		t.Errorf("a request within the bounds: %s", body)
	}
}

func TestRenderMethods(t *testing.T) {
	e := newTestEnv(t)
	req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/render?target=a", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := readResponse(t, resp)
	if code != http.StatusMethodNotAllowed || !strings.Contains(body, "DELETE") {
		t.Errorf("DELETE /render: %d %q, want 405 naming the method", code, body)
	}
}

// The cluster protocol's render answer (graphite-web's RemoteReader
// asks /render/ with format=pickle, local=1, noCache=1, int from/until,
// the raw patterns as targets and now), read back by Python's pickle.
func TestRenderPickle(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	n := e.now
	code, ct, body := e.get("/render/?" + q("format", "pickle", "local", "1", "noCache", "1", "from", fmt.Sprint(n-60), "until", fmt.Sprint(n),
		"target", "servers.*.cpu", "target", "no.such.path", "now", fmt.Sprint(n)))
	if code != http.StatusOK || ct != "application/pickle" {
		t.Fatalf("render pickle: %d %s %q", code, ct, body)
	}
	info := func(name string, vals string) string {
		return fmt.Sprintf("{'name': '%s', 'start': %d, 'end': %d, 'step': 10, 'values': [%s], 'pathExpression': 'servers.*.cpu', "+
			"'valuesPerPoint': 1, 'consolidationFunc': 'average', 'xFilesFactor': 0.0}", name, n-50, n+10, vals)
	}
	want := "[" + info("servers.web1.cpu", "1.0, 2.0, None, 4.0, None, 6.0") + ", " + info("servers.web2.cpu", "None, None, None, None, None, 10.0") + "]"
	if got := pyLoads(t, []byte(body)); got != want {
		t.Errorf("pickle.loads(render):\n got %s\nwant %s", got, want)
	}
	// The legacy pickle flag.
	if code, ct, _ := e.get("/render?" + q("pickle", "1", "target", "servers.web1.cpu")); code != http.StatusOK || ct != "application/pickle" {
		t.Errorf("render?pickle=1: %d %s, want 200 application/pickle", code, ct)
	}
}

// A form body over max_body is refused; a multipart form is read like a
// urlencoded one.
func TestRenderFormBodies(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	code, _, body := e.post("/render", "format=json&target="+strings.Repeat("a", int(DefaultConfig().MaxBody)))
	if code != http.StatusBadRequest || !strings.Contains(body, "form body") {
		t.Errorf("oversized body: %d %.200q, want 400 about the form body", code, body)
	}
	var buf strings.Builder
	mw := multipart.NewWriter(&buf)
	for _, kv := range [][2]string{{"target", "servers.web2.cpu"}, {"format", "raw"}, {"from", "-1min"}} {
		_ = mw.WriteField(kv[0], kv[1])
	}
	_ = mw.Close()
	resp, err := http.Post(e.srv.URL+"/render", mw.FormDataContentType(), strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	code, _, body = readResponse(t, resp)
	if code != http.StatusOK || !strings.HasPrefix(body, "servers.web2.cpu,") {
		t.Errorf("multipart render: %d %q", code, body)
	}
}
