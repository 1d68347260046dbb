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
