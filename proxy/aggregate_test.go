package proxy

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"ringrelay/aggregator"
)

// aggConfig is a statsd UDP listener feeding aggregator "st", which
// flushes (legacy namespace) to pool "carbon" behind sink s. extra is
// added to the aggregator's section.
func aggConfig(s *sink, extra string) string {
	return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "statsd"
listen = "udp://127.0.0.1:0"
format = "statsd"
aggregator = "st"

[[listeners]]
name = "tcp"
listen = "tcp://127.0.0.1:0"
format = "statsd"
pool = "carbon"

[[rules]]
listener = "tcp"
match = '^agg\.'
aggregator = "st"

[aggregators.st]
kind = "statsd"
output = ["carbon"]
flush_interval = "1h"
%s
`, extra) + poolTOML("carbon", "carbon_ch", 1, s.addr)
}

// valueOf finds the last line for key among lines and returns its value.
func valueOf(lines []string, key string) string {
	v := ""
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[0] == key {
			v = f[1]
		}
	}
	return v
}

// TestAggregatorKeepsStateOverReloadAndFlushesAtShutdown: counts sent over
// UDP (to the listener's aggregator) and TCP (by a rule) before and after
// a reload that keeps the aggregator's settings add up in one flush, which
// SIGTERM's Shutdown makes before the queues drain.
func TestAggregatorKeepsStateOverReloadAndFlushesAtShutdown(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	text := aggConfig(s, "")
	r := startRelay(t, text)
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	tcp := dial(t, "tcp", r.ListenerAddr("tcp"))
	for range 10 {
		send(t, udp, "agg.hits:1|c\nagg.ms:5|ms")
	}
	send(t, tcp, "agg.hits:100|c\nplain.line:1|c\n")
	lines := func() float64 { return sumMetric(t, r, "ringrelay_aggregator_lines_total", "aggregator=st") }
	waitFor(t, func() string { return fmt.Sprintf("aggregator took %v lines, want 21", lines()) }, func() bool { return lines() >= 21 })
	if got := s.waitLines(t, 1); len(got) != 1 || got[0] != "plain.line:1|c" {
		t.Fatalf("the line no rule sent to the aggregator: sink got %q", got)
	}

	// Same aggregator settings, another max_line: kept, with its counts.
	if _, err := r.Reload(loadConfigT(t, strings.Replace(text, `format = "statsd"
pool = "carbon"`, `format = "statsd"
pool = "carbon"
max_line = "8KiB"`, 1))); err != nil {
		t.Fatal(err)
	}
	send(t, udp, "agg.hits:1000|c")
	waitFor(t, func() string { return "line after the reload not taken" }, func() bool { return lines() >= 22 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown returns once the backend's TCP acknowledged the flush; the
	// sink may not have read it yet.
	waitFor(t, func() string { return "the final flush did not arrive" }, func() bool {
		got := s.got()
		return valueOf(got, "stats.timers.agg.ms.count") != "" && valueOf(got, "stats_counts.agg.hits") != ""
	})
	got := s.got()
	if v := valueOf(got, "stats_counts.agg.hits"); v != "1110" {
		t.Errorf("stats_counts.agg.hits = %q after the final flush, want 1110 (10 + 100 before the reload, 1000 after)\n%s", v, strings.Join(got, "\n"))
	}
	if v := valueOf(got, "stats.timers.agg.ms.count"); v != "10" {
		t.Errorf("stats.timers.agg.ms.count = %q, want 10", v)
	}
}

// TestAggregatorRebuiltByReloadFlushesItsState: a reload that changes the
// aggregator's settings flushes what the old one held at once; the new one
// starts empty.
func TestAggregatorRebuiltByReloadFlushesItsState(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, aggConfig(s, ""))
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	send(t, udp, "agg.hits:7|c")
	lines := func() float64 { return sumMetric(t, r, "ringrelay_aggregator_lines_total", "aggregator=st") }
	waitFor(t, func() string { return "line not taken" }, func() bool { return lines() >= 1 })
	if _, err := r.Reload(loadConfigT(t, aggConfig(s, "percent_threshold = [50]"))); err != nil {
		t.Fatal(err)
	}
	got := s.waitLines(t, 1)
	waitFor(t, func() string { return "old aggregator's flush did not arrive" }, func() bool {
		return valueOf(s.got(), "stats_counts.agg.hits") == "7"
	})
	send(t, udp, "agg.hits:3|c")
	waitFor(t, func() string { return "line not taken by the new aggregator" }, func() bool { return lines() >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.Shutdown(ctx)
	waitFor(t, func() string { return "the final flush did not arrive" }, func() bool {
		return strings.Count(strings.Join(s.got(), "\n"), "stats_counts.agg.hits ") >= 2
	})
	got = s.got()
	if v := valueOf(got, "stats_counts.agg.hits"); v != "3" {
		t.Errorf("after the rebuild and shutdown, the last stats_counts.agg.hits = %q, want 3\n%s", v, strings.Join(got, "\n"))
	}
}

// TestAggregatorMaxKeysDropsAndCounts: keys beyond max_keys are dropped
// and counted.
func TestAggregatorMaxKeysDropsAndCounts(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, aggConfig(s, "max_keys = 13")) // statsd's 3 own counters + 10
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	for i := range 20 {
		send(t, udp, fmt.Sprintf("k%d:1|c", i))
	}
	dropped := func() float64 { return sumMetric(t, r, "ringrelay_aggregator_keys_dropped_total", "aggregator=st") }
	waitFor(t, func() string { return fmt.Sprintf("keys dropped %v, want 10", dropped()) }, func() bool { return dropped() >= 10 })
	if got := sumMetric(t, r, "ringrelay_aggregator_keys", "aggregator=st"); got != 13 {
		t.Errorf("keys held %v, want 13", got)
	}
}

// graphiteAggConfig is a graphite TCP listener feeding aggregator "gr"
// (kind graphite, 1s and 2s bins, flushed every second) to pool "carbon"
// behind sink s, with a rule summing g.count into g.total. extra is added
// to the aggregator's section; a key it sets replaces the section's own.
func graphiteAggConfig(s *sink, extra string) string {
	section := `kind = "graphite"
output = ["carbon"]
flush_interval = "1s"
times = ["1s:1h", "2s:1h"]
rules = "g.total (2) = sum g.count"
max_aggregation_intervals = 1000
`
	for _, l := range strings.Split(extra, "\n") {
		if k, _, ok := strings.Cut(l, " = "); ok {
			section = regexp.MustCompile(`(?m)^`+k+` = .*\n`).ReplaceAllString(section, "")
		}
	}
	return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "tcp"
listen = "tcp://127.0.0.1:0"
aggregator = "gr"

[aggregators.gr]
%s%s
`, section, extra) + poolTOML("carbon", "carbon_ch", 1, s.addr)
}

// binLines are the points graphite aggregator tests send, two seconds of
// them from an even base, and what the bins make of them.
func binLines(base int64) (in string, want []string) {
	in = fmt.Sprintf("g.mean 10 %[1]d\ng.mean 20 %[1]d\ng.mean 30 %[2]d\ng.count 1 %[1]d\ng.count 2 %[1]d\ng.count 4 %[2]d\n", base, base+1)
	want = []string{
		fmt.Sprintf("g.mean 15 %d", base),   // 1s bin: mean of 10, 20
		fmt.Sprintf("g.mean 30 %d", base+1), // 1s bin
		fmt.Sprintf("g.mean 20 %d", base),   // 2s bin: mean of 10, 20, 30 (not a mean of means)
		fmt.Sprintf("g.count 3 %d", base),   // .count sums
		fmt.Sprintf("g.count 4 %d", base+1),
		fmt.Sprintf("g.count 7 %d", base),
		fmt.Sprintf("g.total 7 %d", base), // the rule, at its interval's start
	}
	return in, want
}

// missing returns the lines of want that got lacks.
func missing(got, want []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}

// TestGraphiteAggregatorFlushesBins: graphite lines over TCP come out of
// the flush loop as bins per resolution (mean by default, sum for .count,
// the rule's sum), each stamped at its start; malformed lines and points
// older than every retention are counted.
func TestGraphiteAggregatorFlushesBins(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, graphiteAggConfig(s, ""))
	tcp := dial(t, "tcp", r.ListenerAddr("tcp"))
	base := time.Now().Unix() - 100
	base -= base % 2
	in, want := binLines(base)
	send(t, tcp, in+"g.neg 1 -5\n") // a graphite line, but no timestamp for a bin
	waitFor(t, func() string {
		return fmt.Sprintf("bins missing after flushes: %q\ngot %q", missing(s.got(), want), s.got())
	}, func() bool { return len(missing(s.got(), want)) == 0 })
	for _, l := range s.got() {
		// A bin flushed while its lines were still arriving is emitted
		// again, whole, later: every value seen is one of a bin's, every
		// stamp a bin start.
		if f := strings.Fields(l); len(f) != 3 || (f[2] != fmt.Sprint(base) && f[2] != fmt.Sprint(base+1)) {
			t.Errorf("flushed line %q: want a stamp of %d or %d (a bin start)", l, base, base+1)
		}
	}
	metric := func(name string) float64 { return sumMetric(t, r, name, "aggregator=gr") }
	if got := metric("ringrelay_aggregator_lines_total"); got != 7 {
		t.Errorf("lines_total %v, want 7", got)
	}
	if got := metric("ringrelay_aggregator_bad_lines_total"); got != 1 {
		t.Errorf("bad_lines_total %v, want 1 (g.neg 1 -5)", got)
	}
	// Once a flush has passed, a point older than every retention (1h) is
	// dropped and counted.
	send(t, tcp, fmt.Sprintf("g.old 1 %d\n", base-7200))
	waitFor(t, func() string { return "the too old line was not counted" }, func() bool {
		return metric("ringrelay_aggregator_lines_too_old_total") == 1
	})
}

// TestGraphiteAggregatorKeepsBinsOverReloadAndDrainsAtShutdown: with
// flush_delay = 30m no bin is final during the test; bins fed before and
// after a reload that keeps the aggregator's settings are one bin each,
// and Shutdown flushes them, not yet final, once each.
func TestGraphiteAggregatorKeepsBinsOverReloadAndDrainsAtShutdown(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	text := graphiteAggConfig(s, `flush_delay = "30m"`)
	r := startRelay(t, text)
	tcp := dial(t, "tcp", r.ListenerAddr("tcp"))
	base := time.Now().Unix() - 100
	base -= base % 2
	in, want := binLines(base)
	ls := strings.SplitAfter(in, "\n")
	lines := func() float64 { return sumMetric(t, r, "ringrelay_aggregator_lines_total", "aggregator=gr") }
	send(t, tcp, ls[0]+ls[3]) // g.mean 10 base, g.count 1 base
	waitFor(t, func() string { return "lines before the reload not taken" }, func() bool { return lines() >= 2 })

	changes, err := r.Reload(loadConfigT(t, strings.Replace(text, `aggregator = "gr"`, `aggregator = "gr"
max_line = "8KiB"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if strings.HasPrefix(c, "aggregator") {
			t.Errorf("reload that keeps the aggregator's settings: %q", c)
		}
	}
	tcp2 := dial(t, "tcp", r.ListenerAddr("tcp"))
	send(t, tcp2, ls[1]+ls[2]+ls[4]+ls[5])
	waitFor(t, func() string { return fmt.Sprintf("lines after the reload not taken: %v of 6", lines()) }, func() bool { return lines() >= 6 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.waitLines(t, len(want))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after the reload and shutdown the sink got\n%s\nwant each bin once, with the points of both sides of the reload:\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestGraphiteAggregatorConfigErrors: each bad section is refused with
// the key (and its line) named.
func TestGraphiteAggregatorConfigErrors(t *testing.T) {
	s := &sink{addr: "127.0.0.1:1"}
	for _, c := range []struct{ extra, want string }{
		{`times = ["2s:1h", "3s:1h"]`, `aggregators.gr.times: times[1] "3s:1h": resolution 3s must be a multiple`},
		{`times = []`, `aggregators.gr.times: times: at least one`},
		{`flush_delay = "2h"`, `retention must be longer than flush_delay`},
		{`flush_interval = "1500ms"`, `aggregators.gr.flush_interval: flush_interval 1.5s: must be a whole number of seconds`},
		{`rules = "g.total (0) = sum g.count"`, `aggregators.gr.rules: rules: `},
		{`max_aggregation_intervals = -1`, `aggregators.gr.max_aggregation_intervals: max_aggregation_intervals -1: must not be negative`},
		{`percent_threshold = [50]`, `aggregators.gr.percent_threshold: percent_threshold: a key of kind "statsd"; this aggregator is of kind "graphite"`},
		{`legacy_namespace = false`, `aggregators.gr.legacy_namespace: legacy_namespace: a key of kind "statsd"`},
	} {
		_, err := LoadConfig([]byte(graphiteAggConfig(s, c.extra)))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: got %v, want an error with a line and %q", c.extra, err, c.want)
		}
	}
	// The reverse: graphite's keys on a statsd aggregator.
	if _, err := LoadConfig([]byte(aggConfig(s, `times = ["1s:1h"]`))); err == nil || !strings.Contains(err.Error(), `aggregators.st.times: times: a key of kind "graphite"; this aggregator is of kind "statsd"`) {
		t.Errorf("times on a statsd aggregator: got %v", err)
	}
	// A statsd listener would make every line bad.
	text := strings.Replace(graphiteAggConfig(s, ""), `aggregator = "gr"`, `aggregator = "gr"
format = "statsd"`, 1)
	if _, err := LoadConfig([]byte(text)); err == nil || !strings.Contains(err.Error(), `listeners.0.aggregator: listener "tcp" reads statsd lines; aggregator "gr" is of kind "graphite"`) {
		t.Errorf("statsd listener feeding a graphite aggregator: got %v", err)
	}
	if _, err := LoadConfig([]byte(strings.Replace(graphiteAggConfig(s, ""), `kind = "graphite"`, `kind = "carbon"`, 1))); err == nil || !strings.Contains(err.Error(), `aggregators.gr.kind: kind "carbon": want "statsd" or "graphite"`) {
		t.Errorf("kind carbon: got %v", err)
	}
	// relay aggregate runs statsd aggregators only.
	cfg := loadConfigT(t, graphiteAggConfig(s, ""))
	if err := AggregateTest(cfg, "gr", strings.NewReader(""), io.Discard, 0); err == nil || !strings.Contains(err.Error(), `aggregator "gr" is of kind "graphite": relay aggregate runs statsd aggregators only`) {
		t.Errorf("AggregateTest on a graphite aggregator: got %v", err)
	}
}

// TestAggregatorDefaultsOfBothKinds: a section starts from the defaults of
// both kinds, so a graphite section that sets only kind and output has
// graphite's defaults and a statsd one statsd's.
func TestAggregatorDefaultsOfBothKinds(t *testing.T) {
	s := &sink{addr: "127.0.0.1:1"}
	cfg := loadConfigT(t, `
[[listeners]]
listen = "tcp://127.0.0.1:0"
aggregator = "gr"

[aggregators.gr]
kind = "graphite"
output = ["carbon"]
`+poolTOML("carbon", "carbon_ch", 1, s.addr))
	gc := cfg.Aggregators["gr"].graphiteConfig()
	want := aggregator.DefaultGraphiteConfig()
	want.MaxKeys = 1_000_000
	if !reflect.DeepEqual(gc, want) {
		t.Errorf("graphite section's defaults:\n got %+v\nwant %+v", gc, want)
	}
	if got := cfg.Aggregators["gr"].FlushInterval.Duration; got != 10*time.Second {
		t.Errorf("graphite flush_interval default %v, want 10s (the finest default resolution)", got)
	}
	st := loadConfigT(t, aggConfig(s, "")).Aggregators["st"]
	if wsc := aggregatorDefaults().StatsdConfig; !reflect.DeepEqual(st.StatsdConfig, func() aggregator.StatsdConfig {
		wsc.FlushInterval = st.FlushInterval // "1h" in aggConfig
		return wsc
	}()) {
		t.Errorf("statsd section's defaults: got %+v", st.StatsdConfig)
	}
}
