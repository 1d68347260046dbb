package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
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
