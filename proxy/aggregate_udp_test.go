package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// TestAggregatorCountsDatagramsAsStatsd: a UDP listener hands its
// aggregator each datagram as it was sent, so packets_received counts
// datagrams (as Etsy statsd does), even when the listener reads several
// in one system call.
func TestAggregatorCountsDatagramsAsStatsd(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, aggConfig(s, ""))
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	for i := range 40 {
		send(t, udp, fmt.Sprintf("dg.a%d:1|c\ndg.b%d:1|c", i, i))
	}
	lines := func() float64 { return sumMetric(t, r, "ringrelay_aggregator_lines_total", "aggregator=st") }
	waitFor(t, func() string { return fmt.Sprintf("aggregator took %v of 80 lines", lines()) }, func() bool { return lines() >= 80 })
	if got := sumMetric(t, r, "ringrelay_aggregator_datagrams_total", "aggregator=st"); got != 40 {
		t.Errorf("datagrams_total = %v for 40 datagrams, want 40", got)
	}
}

// TestAggregatorListenerTakesLinesAsStatsd: a statsd listener that feeds
// its aggregator with no rules hands it every line as read, so what Etsy
// statsd takes is taken (an unknown type is a counter) and what it refuses
// counts as its bad line, by reason, not as the listener's invalid line.
func TestAggregatorListenerTakesLinesAsStatsd(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	cfg := strings.Replace(aggConfig(s, ""), "flush_interval = \"1h\"", "flush_interval = \"1s\"", 1)
	r := startRelay(t, cfg)
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	send(t, udp, "odd.type:3|x\nbad.rate:1|c|@ 0.5\nnocolon")
	waitFor(t, func() string { return fmt.Sprintf("flushed: %q", s.got()) }, func() bool {
		return valueOf(s.got(), "stats_counts.odd.type") == "3"
	})
	bad := func(reason string) float64 {
		return sumMetric(t, r, "ringrelay_aggregator_bad_lines_total", "aggregator=st", "reason="+reason)
	}
	if bad("bad_rate") != 1 || bad("bad_fields") != 1 {
		t.Errorf("aggregator bad lines: bad_rate %v, bad_fields %v; want 1 and 1", bad("bad_rate"), bad("bad_fields"))
	}
	if got := sumMetric(t, r, "ringrelay_listener_lines_invalid_total", "listener=statsd"); got != 0 {
		t.Errorf("the listener counted %v invalid lines; the aggregator counts them", got)
	}
}

// TestAggregatorListenerHandsDatagramsWhole: a direct statsd listener
// hands each datagram to its aggregator as sent, so the aggregator splits
// it as Etsy statsd does: a line ending in "\r" keeps it (its type is
// trimmed), a line that is only "\r" is a bad line, and the listener counts
// the datagram's non-empty lines as received. A datagram longer than
// max_line is cut into lines by the listener, which counts the long one.
func TestAggregatorListenerHandsDatagramsWhole(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	cfg := strings.Replace(aggConfig(s, ""), "flush_interval = \"1h\"", "flush_interval = \"1s\"", 1)
	cfg = strings.Replace(cfg, "aggregator = \"st\"\n", "aggregator = \"st\"\nmax_line = \"64B\"\n", 1)
	r := startRelay(t, cfg)
	udp := dial(t, "udp", r.ListenerAddr("statsd"))
	send(t, udp, "cr.a:1|c\r\n\ncr.b:2|c\r\n\r")
	long := "long." + strings.Repeat("x", 64) + ":1|c"
	send(t, udp, "cut.a:4|c\n"+long+"\ncut.b:5|c")
	waitFor(t, func() string { return fmt.Sprintf("flushed: %q", s.got()) }, func() bool {
		got := s.got()
		return valueOf(got, "stats_counts.cr.a") == "1" && valueOf(got, "stats_counts.cr.b") == "2" &&
			valueOf(got, "stats_counts.cut.a") == "4" && valueOf(got, "stats_counts.cut.b") == "5"
	})
	if got := sumMetric(t, r, "ringrelay_aggregator_bad_lines_total", "aggregator=st", "reason=bad_fields"); got != 1 {
		t.Errorf("bad_fields = %v, want 1 (the line that is only \\r)", got)
	}
	if got := sumMetric(t, r, "ringrelay_listener_lines_received_total", "listener=statsd"); got != 6 {
		t.Errorf("lines_received = %v, want 6 (3 of the whole datagram, 3 of the cut one)", got)
	}
	if got := sumMetric(t, r, "ringrelay_listener_lines_invalid_total", "listener=statsd", "reason=too_long"); got != 1 {
		t.Errorf("too_long = %v, want 1", got)
	}
	if got := sumMetric(t, r, "ringrelay_aggregator_lines_total", "aggregator=st"); got != 5 {
		t.Errorf("aggregator lines = %v, want 5 (the long line never reached it)", got)
	}
	if got := sumMetric(t, r, "ringrelay_aggregator_datagrams_total", "aggregator=st"); got != 2 {
		t.Errorf("datagrams = %v, want 2", got)
	}
}
