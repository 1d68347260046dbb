package proxy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ringrelay/sinks"
)

func TestSinkConfigDecodes(t *testing.T) {
	cfg, err := LoadConfig([]byte(`
[pools.carbon]
servers = ["127.0.0.1:1"]
[sinks.store]
kind = "memory"
max_series = 7
snapshot = "x.snap"
[sinks.log]
kind = "file"
dir = "/tmp/x"
rotate_bytes = "1MiB"
[aggregators.statsd]
output = ["carbon", "sink:store", "sink:log"]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sinks["store"]
	if s.Kind != "memory" || s.MaxSeries != 7 || s.Snapshot != "x.snap" || s.QueuePoints != 1_000_000 {
		t.Fatalf("store: %+v", s)
	}
	if l := cfg.Sinks["log"]; l.Dir != "/tmp/x" || l.RotateBytes != 1<<20 {
		t.Fatalf("log: %+v", l)
	}
}

func TestSinkConfigErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{`[sinks.s]
kind = "nosuch"`, `sinks.s.kind: kind "nosuch": want one of`},
		{`[sinks.s]
kind = "memory"
dir = "/x"`, `sinks.s.dir: dir: a key of kind "file"; this sink is of kind "memory"`},
		{`[sinks.s]
kind = "memory"
times = ["10s:1h", "15s:2h"]`, `sinks.s.times`},
		{`[sinks.s]
kind = "file"`, `sinks.s.dir`},
		{`[sinks.s]
kind = "memory"
[aggregators.a]
output = ["sink:t"]`, `output: unknown sink "t"`},
		{`[sinks.s]
kind = "memory"
times = ["1m:1h"]
[aggregators.a]
output = ["sink:s"]`, `output: sink "s" keeps no resolution of 10s, this aggregator's flush_interval`},
	} {
		_, err := LoadConfig([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config\n%s\nerror %v; want it to contain %q", c.text, err, c.want)
		}
	}
}

// sinkTestConfig: statsd over UDP into aggregator "st" (1 s flushes) and
// graphite over TCP into aggregator "gr" (1 s bins), both flushing into
// memory sink "store" and file sink "log" (in dir), and st also to pool
// carbon. extra goes at the end (more sinks).
func sinkTestConfig(s *sink, dir, storeExtra string) string {
	return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "statsd"
listen = "udp://127.0.0.1:0"
format = "statsd"
aggregator = "st"

[[listeners]]
name = "graphite"
listen = "tcp://127.0.0.1:0"
format = "graphite"
aggregator = "gr"

[aggregators.st]
kind = "statsd"
output = ["carbon", "sink:store", "sink:log"]
flush_interval = "1s"

[aggregators.gr]
kind = "graphite"
output = ["sink:store", "sink:log"]
flush_interval = "1s"
times = ["1s:1h"]

[sinks.store]
kind = "memory"
times = ["1s:1h"]
%s

[sinks.log]
kind = "file"
times = ["1s:1h"]
dir = %q
`, storeExtra, dir) + poolTOML("carbon", "carbon_ch", 1, s.addr)
}

// fetchAll reads path's 1 s points from the relay's sink name.
func fetchAll(t *testing.T, r *Relay, name, path string) []sinks.Point {
	t.Helper()
	r.sinkMu.Lock()
	s := r.sinks[name]
	r.sinkMu.Unlock()
	rd := s.reader()
	if rd == nil {
		t.Fatalf("sink %s cannot be read", name)
	}
	pts, err := rd.Fetch(context.Background(), path, 1, 0, time.Now().Unix()+10)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

// TestSinksStoreWhatAggregatorsFlush: statsd counts and graphite bins
// reach a memory sink (read back) and a file sink (its TSV, complete after
// Shutdown) with every statistic; a reload that keeps the sink's section
// keeps the sink and what it stored.
func TestSinksStoreWhatAggregatorsFlush(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	text := sinkTestConfig(s, dir, "")
	r := startRelay(t, text)
	store := r.sinks["store"]
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	tcp := dial(t, "tcp", r.ListenerAddr("graphite"))
	send(t, udp, "hits:5|c\nhits:2|c")
	base := time.Now().Unix() - 30
	send(t, tcp, fmt.Sprintf("g.lat 4 %d\ng.lat 1 %d\ng.lat 7 %d\n", base, base, base))

	var counts []sinks.Point
	waitFor(t, func() string { return fmt.Sprintf("stats_counts.hits in the memory sink: %+v", counts) }, func() bool {
		counts = fetchAll(t, r, "store", "stats_counts.hits")
		return slices.ContainsFunc(counts, func(p sinks.Point) bool { return p.Sum == 7 })
	})
	for _, p := range counts {
		if p.Resolution != 1 || p.Count != 1 || p.Min != p.Sum || p.Max != p.Sum || p.Last != p.Sum {
			t.Errorf("a statsd value is one point of count 1: %+v", p)
		}
	}
	var bins []sinks.Point
	waitFor(t, func() string { return fmt.Sprintf("g.lat in the memory sink: %+v", bins) }, func() bool {
		bins = fetchAll(t, r, "store", "g.lat")
		return len(bins) == 1
	})
	want := sinks.Point{Path: "g.lat", Resolution: 1, Start: base, Count: 3, Sum: 12, Min: 1, Max: 7, Last: 7}
	if bins[0] != want {
		t.Fatalf("graphite bin stored as %+v, want %+v", bins[0], want)
	}

	// A reload that changes an aggregator's outputs but not the sink keeps it.
	text2 := strings.Replace(text, `output = ["sink:store", "sink:log"]`, `output = ["sink:store"]`, 1)
	if _, err := r.Reload(loadConfigT(t, text2)); err != nil {
		t.Fatal(err)
	}
	if r.sinks["store"] != store {
		t.Fatal("a reload that kept the sink's section reopened it")
	}
	if got := fetchAll(t, r, "store", "g.lat"); len(got) != 1 || got[0] != want {
		t.Fatalf("after the reload the store holds %+v", got)
	}
	send(t, udp, "hits:1|c")
	waitFor(t, func() string { return "the count sent after the reload was not stored" }, func() bool {
		return slices.ContainsFunc(fetchAll(t, r, "store", "stats_counts.hits"), func(p sinks.Point) bool { return p.Sum == 1 })
	})
	written := func() float64 { return sumMetric(t, r, "ringrelay_sink_points_written_total", `sink=log`) }
	if written() == 0 {
		// The file sink writes through its queue: wait for some rows.
		waitFor(t, func() string { return "the file sink wrote nothing" }, func() bool { return written() > 0 })
	}

	// Shutdown closes the sinks after the aggregators' final flush: the
	// file holds every row it was given.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "log.1s.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf("g.lat\t1\t%d\t3\t12\t1\t7\t7\n", base)
	if !strings.Contains(string(data), row) {
		t.Errorf("the file sink lacks %q:\n%s", row, data)
	}
	if !strings.Contains(string(data), "stats_counts.hits\t1\t") {
		t.Errorf("the file sink lacks stats_counts.hits:\n%s", data)
	}
	if got := sumMetric(t, r, "ringrelay_sink_points_dropped_total", "sink=log"); got != 0 {
		t.Errorf("the file sink dropped %v points", got)
	}
}

// TestSinkReopenedKeepsCounting: a changed section reopens the sink under
// its name; its counters go on from where they were.
func TestSinkReopenedKeepsCounting(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	text := sinkTestConfig(s, t.TempDir(), "")
	r := startRelay(t, text)
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	send(t, udp, "hits:5|c")
	written := func() float64 { return sumMetric(t, r, "ringrelay_sink_points_written_total", `sink=store`) }
	waitFor(t, func() string { return "nothing written to the memory sink" }, func() bool { return written() > 0 })
	before := written()
	old := r.sinks["store"]
	changes, err := r.Reload(loadConfigT(t, sinkTestConfig(s, t.TempDir(), "max_series = 5000")))
	if err != nil {
		t.Fatal(err)
	}
	if r.sinks["store"] == old || !slices.Contains(changes, "sink store reopened (its section changed)") {
		t.Fatalf("changes %q: the changed sink was not reopened", changes)
	}
	if got := written(); got < before {
		t.Fatalf("points_written went back from %v to %v", before, got)
	}
}

// A statsd value is stored at its flush's stamp; the final flush of a
// stopping aggregator, between two multiples of the interval, goes to the
// next one, not over the interval the last regular flush stored.
func TestStatsdFlushBins(t *testing.T) {
	w := &sinkWriter{res: 10}
	w.line([]byte("stats_counts.a 5 100"))
	w.line([]byte("stats_counts.a 3 103"))
	w.line([]byte("not a flushed line"))
	want := []sinks.Point{
		{Path: "stats_counts.a", Resolution: 10, Start: 100, Count: 1, Sum: 5, Min: 5, Max: 5, Last: 5},
		{Path: "stats_counts.a", Resolution: 10, Start: 110, Count: 1, Sum: 3, Min: 3, Max: 3, Last: 3},
	}
	if !slices.Equal(w.buf, want) {
		t.Fatalf("points %+v, want %+v", w.buf, want)
	}
}
