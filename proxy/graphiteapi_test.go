package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"ringrelay/internal/cqltest"
	"ringrelay/internal/mariadbtest"
)

// e2eConfig is testdata/configs/e2e-relay.toml (statsd over UDP into
// aggregator "st", 1 s flushes, into sink "store", read by the Graphite API
// on the admin listener and on its own) with the sink's kind line replaced
// by sinkSection.
func e2eConfig(t *testing.T, sinkSection string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/configs/e2e-relay.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "\nkind = \"memory\"\n") {
		t.Fatal("testdata/configs/e2e-relay.toml lost its sink's kind line")
	}
	return strings.Replace(text, "\nkind = \"memory\"\n", "\n"+sinkSection+"\n", 1)
}

// renderJSON asks base for target over the last 10 minutes and returns
// the series' datapoints by name.
func renderJSON(t *testing.T, base, target string) map[string][][2]*float64 {
	t.Helper()
	q := url.Values{"target": {target}, "from": {"-10min"}, "until": {"now"}, "format": {"json"}}
	resp, err := http.Get(base + "/render?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("render %s: %d %s", target, resp.StatusCode, body)
	}
	var series []struct {
		Target     string        `json:"target"`
		Datapoints [][2]*float64 `json:"datapoints"`
	}
	if err := json.Unmarshal(body, &series); err != nil {
		t.Fatalf("render %s: %v\n%s", target, err, body)
	}
	out := map[string][][2]*float64{}
	for _, s := range series {
		out[s.Target] = s.Datapoints
	}
	return out
}

// sentCounts sends, in one datagram each, "e2e.hits:N|c" for N = 1..n,
// and returns their total.
func sentCounts(t *testing.T, c net.Conn, n int) float64 {
	total := 0.0
	for i := 1; i <= n; i++ {
		send(t, c, fmt.Sprintf("e2e.hits:%d|c", i))
		total += float64(i)
	}
	return total
}

// checkEndToEnd: statsd counts over UDP come back through /render, on the
// admin listener and the API's own, as the flushed count at the bin start
// of each flush, and nothing is counted twice.
func checkEndToEnd(t *testing.T, sinkSection string) {
	s := startSink(t, "127.0.0.1:0")
	_ = s
	r := startRelay(t, e2eConfig(t, sinkSection))
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	want := sentCounts(t, udp, 20)
	for _, base := range []string{"http://" + r.AdminAddr().String(), "http://" + r.GraphiteAPIAddr().String()} {
		var got float64
		var pts [][2]*float64
		waitFor(t, func() string {
			return fmt.Sprintf("%s: stats_counts.e2e.hits sums to %v, want %v: %v", base, got, want, pts)
		}, func() bool {
			pts = renderJSON(t, base, "stats_counts.e2e.hits")["stats_counts.e2e.hits"]
			got = 0
			for _, p := range pts {
				if p[0] != nil {
					got += *p[0]
					if ts := int64(*p[1]); ts%1 != 0 {
						t.Fatalf("a point at %d is not at a bin start", ts)
					}
				}
			}
			return got == want
		})
		if len(pts) < 500 || len(pts) > 700 {
			t.Errorf("%s: %d points for 10 minutes at 1 s; want about 600 (the 1 s resolution)", base, len(pts))
		}
	}
	// A function over the stored series, and the find Grafana's editor uses.
	base := "http://" + r.AdminAddr().String()
	sum := renderJSON(t, base, `alias(sumSeries(stats_counts.e2e.*), "total")`)["total"]
	got := 0.0
	for _, p := range sum {
		if p[0] != nil {
			got += *p[0]
		}
	}
	if got != want {
		t.Errorf("alias(sumSeries(...)) sums to %v, want %v", got, want)
	}
	resp, err := http.Get(base + "/metrics/find?query=stats_counts.e2e.*")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"stats_counts.e2e.hits"`) && !strings.Contains(string(body), `"id": "stats_counts.e2e.hits"`) {
		t.Errorf("find: %d %s", resp.StatusCode, body)
	}
	// Grafana POSTs its render form; the admin guard does not stand in the
	// way of the read-only API.
	resp, err = http.PostForm(base+"/render", url.Values{"target": {"stats_counts.e2e.hits"}, "from": {"-5min"}, "format": {"json"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST /render on the admin listener: %d", resp.StatusCode)
	}
}

func TestEndToEndMemorySink(t *testing.T) {
	checkEndToEnd(t, `kind = "memory"`)
}

func TestEndToEndMySQLSink(t *testing.T) {
	dsn := mariadbtest.Shared(t)
	checkEndToEnd(t, fmt.Sprintf("kind = \"mysql\"\ndsn = %q\nbatch_points = 100\nwrite_timeout = \"5s\"", dsn))
}

func TestEndToEndCassandraSink(t *testing.T) {
	srv := cqltest.Start(t, cqltest.Options{})
	checkEndToEnd(t, fmt.Sprintf("kind = \"cassandra\"\nhosts = [%q]\nbatch_points = 100", srv.Addr()))
}

func TestGraphiteAPIConfigErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"[graphiteapi]\nsink = \"nosuch\"", `graphiteapi.sink: sink "nosuch": no such [sinks.nosuch] section`},
		{"[graphiteapi]\nsink = \"f\"\n[sinks.f]\nkind = \"file\"\ndir = \"x\"", `cannot be read back`},
		{"[graphiteapi]\nlisten = \"127.0.0.1:0\"", `graphiteapi.sink is empty`},
	} {
		_, err := LoadConfig([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: error %v; want it to contain %q", c.text, err, c.want)
		}
	}
	// Off by default: the API's paths say how to turn it on.
	r := startRelay(t, "[admin]\nlisten = \"127.0.0.1:0\"\n"+poolTOML("carbon", "carbon_ch", 1, "127.0.0.1:1"))
	resp, err := http.Get("http://" + r.AdminAddr().String() + "/render?target=a&format=json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "[graphiteapi] sink") {
		t.Errorf("render with the API off: %d %s", resp.StatusCode, body)
	}
	_ = time.Second
}
