package graphiteapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/aggregator"
	"ringrelay/internal/testio"
	"ringrelay/sinks"
	"ringrelay/sinks/memory"
)

// graphiteWebPackage is where Debian's graphite-web installs its code.
const graphiteWebPackage = "/usr/lib/python3/dist-packages/graphite/settings.py"

// graphiteWeb is a running graphite-web (Debian's package) whose only
// data source is ringrelay's API, listed in its CLUSTER_SERVERS.
type graphiteWeb struct {
	url    string
	stderr *testio.SyncBuffer
}

// startGraphiteWeb runs testdata/graphiteweb/serve.py (graphite-web's
// Django app under wsgiref on a free 127.0.0.1 port) with clusterServer
// as its one CLUSTER_SERVERS entry, and returns once it listens. It is
// killed when the test ends. Without Debian's graphite-web the test is
// skipped, unless CI is set.
func startGraphiteWeb(t *testing.T, clusterServer string) *graphiteWeb {
	t.Helper()
	if _, err := os.Stat(graphiteWebPackage); err != nil {
		missingTool(t, "graphite-web (apt-get install -y graphite-web)")
	}
	script, err := filepath.Abs("testdata/graphiteweb/serve.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python3(t), script)
	cmd.Env = append(os.Environ(), "RINGRELAY_TMP="+t.TempDir(), "RINGRELAY_CLUSTER_SERVER="+clusterServer,
		"PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in testdata
	gw := &graphiteWeb{stderr: &testio.SyncBuffer{}}
	cmd.Stderr = gw.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start graphite-web (%s): %v", script, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("graphite-web's stderr:\n%s", tail(gw.stderr.String(), 60))
		}
	})
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		port <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p := <-port:
		if p == "" {
			t.Fatalf("graphite-web exited before listening:\n%s", tail(gw.stderr.String(), 60))
		}
		gw.url = "http://127.0.0.1:" + p
	case <-time.After(60 * time.Second):
		t.Fatalf("graphite-web did not listen within 60s:\n%s", tail(gw.stderr.String(), 60))
	}
	return gw
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

// feedStatsd runs ten minutes of statsd traffic ending at end through the
// accumulators the relay uses (statsd, flushed every 10 s, into the
// graphite accumulator's bins) and stores the bins in st, as the relay's
// "sink:" output does. A graphite path with gaps is added beside them.
func feedStatsd(t *testing.T, st *memory.Store, end int64) {
	t.Helper()
	sd := aggregator.NewStatsd(aggregator.DefaultStatsdConfig())
	gr := aggregator.NewGraphite(aggregator.DefaultGraphiteConfig())
	toGraphite := func(line []byte) {
		if !gr.Line(line) {
			t.Errorf("graphite accumulator refused %q", line)
		}
	}
	for k := int64(0); k < 60; k++ {
		ts := end - 590 + 10*k
		sd.Datagram([]byte(fmt.Sprintf("gorets:%d|c\nglork:%d|ms\nglork:%d|ms\ngaugor:%d|g", k%7, 100+k, 300-2*k, k*k%11)))
		sd.Flush(time.Unix(ts, 0), toGraphite)
		if k%3 != 0 {
			toGraphite([]byte(fmt.Sprintf("servers.web1.cpu %d.25 %d", k, ts+3)))
		}
	}
	var pts []sinks.Point
	gr.Flush(time.Unix(end+10, 0), func(b aggregator.Bin) {
		pts = append(pts, sinks.Point{Path: b.Path, Resolution: sinks.Seconds(b.Resolution), Start: b.Start,
			Count: b.Count, Sum: b.Sum, Min: b.Min, Max: b.Max, Last: b.Last})
	})
	st.Write(pts)
	if s := st.Stats(); s.Dropped > 0 || s.Written == 0 {
		t.Fatalf("memory sink: %+v", s)
	}
}

// TestGraphiteWebCluster runs graphite-web with ringrelay's API as its
// cluster server and checks that what it finds and renders from our
// pickles is what our API answers itself: the cluster protocol carries
// the data unchanged, and our own consolidation and formats match
// graphite-web's (it consolidates the raw series it fetched from us).
func TestGraphiteWebCluster(t *testing.T) {
	rets, err := sinks.ParseTimes(sinks.DefaultTimes())
	if err != nil {
		t.Fatal(err)
	}
	st, err := memory.Open("store", memory.DefaultConfig(), rets, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	end := time.Now().Unix() / 10 * 10
	feedStatsd(t, st, end)
	api := New(st, DefaultConfig(), zap.NewNop())
	ours := httptest.NewServer(api)
	t.Cleanup(ours.Close)
	gw := startGraphiteWeb(t, strings.TrimPrefix(ours.URL, "http://"))

	window := q("from", fmt.Sprint(end-600), "until", fmt.Sprint(end), "now", fmt.Sprint(end))
	// same checks that graphite-web and our API answer path alike:
	// byte for byte when exact, else as decoded JSON; with noTags the
	// series' "tags" are left out (expr.Series carries no tags, so ours
	// are always {"name": target}, where graphite-web keeps a series'
	// tags through alias functions and adds some, e.g. aggregatedBy).
	same := func(t *testing.T, path string, exact, noTags bool) {
		t.Helper()
		gcode, gbody := httpGet(t, gw.url+path)
		ocode, obody := httpGet(t, ours.URL+path)
		if gcode != http.StatusOK || ocode != http.StatusOK {
			t.Fatalf("%s: graphite-web %d %.300s; ours %d %.300s", path, gcode, gbody, ocode, obody)
		}
		if exact {
			if !bytes.Equal(gbody, obody) {
				t.Errorf("%s:\ngraphite-web %q\n        ours %q", path, gbody, obody)
			}
			return
		}
		var g, o any
		if err := json.Unmarshal(gbody, &g); err != nil {
			t.Fatalf("%s: graphite-web's answer is not JSON: %v: %.300s", path, err, gbody)
		}
		if err := json.Unmarshal(obody, &o); err != nil {
			t.Fatalf("%s: our answer is not JSON: %v: %.300s", path, err, obody)
		}
		if diff := jsonDiff(g, o, "", noTags); diff != "" {
			t.Errorf("%s: %s\ngraphite-web %.600s\n        ours %.600s", path, diff, gbody, obody)
		}
	}

	t.Run("find", func(t *testing.T) {
		for _, query := range []string{"*", "stats.*", "stats.timers.glork.*", "stat?.timers.*.m*", "servers.{web1,web2}.*", "nothing.*"} {
			same(t, "/metrics/find?"+q("query", query), false, false)
			same(t, "/metrics/find?"+q("query", query, "format", "completer"), false, false)
		}
		same(t, "/metrics/expand?"+q("query", "stats.*", "query", "servers.*.*"), false, false)
		same(t, "/metrics/expand?"+q("query", "stats.*", "query", "servers.*.*", "groupByExpr", "1", "leavesOnly", "1"), false, false)
		same(t, "/metrics/index.json", false, false)
	})
	t.Run("data", func(t *testing.T) {
		// What statsd flushed at end-590+10k: stats_counts.gorets = k%7.
		_, body := httpGet(t, gw.url+"/render?format=json&"+q("target", "stats_counts.gorets")+"&"+window)
		var got []struct {
			Target     string
			Datapoints [][2]*float64
		}
		if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 || len(got[0].Datapoints) != 60 {
			t.Fatalf("graphite-web render of stats_counts.gorets: %v: %.300s", err, body)
		}
		for k, dp := range got[0].Datapoints {
			if want := float64(k % 7); dp[0] == nil || *dp[0] != want || int64(*dp[1]) != end-590+10*int64(k) {
				t.Errorf("stats_counts.gorets point %d: %v at %v, want %v at %d", k, dp[0], dp[1], want, end-590+10*int64(k))
			}
		}
	})
	t.Run("render", func(t *testing.T) {
		targets := q("target", "stats.gorets", "target", "stats.timers.glork.{mean,upper_90,count}", "target", "servers.web1.cpu", "target", "stats_counts.gorets")
		same(t, "/render?format=json&"+targets+"&"+window, false, false)
		same(t, "/render?format=raw&"+targets+"&"+window, true, false)
		same(t, "/render?format=csv&"+targets+"&"+window, true, false)
		same(t, "/render?format=json&noNullPoints=1&"+targets+"&"+window, false, false)
		for _, mdp := range []int{1, 7, 13, 25, 59, 60, 100} {
			same(t, fmt.Sprintf("/render?format=json&maxDataPoints=%d&%s&%s", mdp, targets, window), false, false)
		}
		same(t, "/render?format=json&maxDataPoints=7&xFilesFactor=0.9&"+targets+"&"+window, false, false)
		// A window that does not start on a step, and one at 1-minute resolution.
		same(t, "/render?format=json&maxDataPoints=9&"+targets+"&"+q("from", fmt.Sprint(end-577), "until", fmt.Sprint(end-3), "now", fmt.Sprint(end)), false, false)
		same(t, "/render?format=raw&"+targets+"&"+q("from", fmt.Sprint(end-8*86400), "until", fmt.Sprint(end), "now", fmt.Sprint(end)), true, false)
	})
	t.Run("expressions", func(t *testing.T) {
		for _, target := range []string{
			"sumSeries(stats.timers.glork.{mean,upper})",
			"aliasByNode(stats.timers.glork.*, 3)",
			`aliasSub(stats.gorets, "(^.*$)", "\1 A")`,
			"scale(servers.web1.cpu, 2.5)",
			"nonNegativeDerivative(stats_counts.gorets)",
			// Grafana's "Save & test".
			`aliasSub(constantLine(100), "(^.*$)", "\1 A")`,
		} {
			same(t, "/render?format=json&maxDataPoints=20&"+q("target", target)+"&"+window, false, true)
		}
	})
}

// jsonDiff describes the first difference between two decoded JSON
// values, "" when equal, leaving out "tags" keys when noTags. Numbers
// must be equal up to 1e-12 relative (functions may add in another order).
func jsonDiff(a, b any, at string, noTags bool) string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("at %s: %T vs %T", at, a, b)
		}
		for k := range a {
			if k == "tags" && noTags {
				continue
			}
			if _, ok := bm[k]; !ok {
				return fmt.Sprintf("at %s: key %q missing from ours", at, k)
			}
			if d := jsonDiff(a[k], bm[k], at+"."+k, noTags); d != "" {
				return d
			}
		}
		for k := range bm {
			if _, ok := a[k]; !ok && !(k == "tags" && noTags) {
				return fmt.Sprintf("at %s: key %q only in ours", at, k)
			}
		}
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return fmt.Sprintf("at %s: %d elements vs %v", at, len(a), describeLen(b))
		}
		for i := range a {
			if d := jsonDiff(a[i], bl[i], fmt.Sprintf("%s[%d]", at, i), noTags); d != "" {
				return d
			}
		}
	case float64:
		bf, ok := b.(float64)
		if !ok || a != bf && math.Abs(a-bf) > 1e-12*math.Max(math.Abs(a), math.Abs(bf)) {
			return fmt.Sprintf("at %s: %v vs %v", at, a, b)
		}
	default:
		if a != b {
			return fmt.Sprintf("at %s: %#v vs %#v", at, a, b)
		}
	}
	return ""
}

func describeLen(v any) string {
	if l, ok := v.([]any); ok {
		return fmt.Sprintf("%d elements", len(l))
	}
	return fmt.Sprintf("%T", v)
}
