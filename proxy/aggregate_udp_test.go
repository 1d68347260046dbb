package proxy

import (
	"fmt"
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
