package proxy

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"ringrelay/proxy/udpsock"
)

// udpCollector reports the kernel's accounting of every udp listener's
// socket at scrape time: datagrams dropped because the receive buffer was
// full (lines sent as one per datagram are lines lost there) and the bytes
// waiting in it. A reload keeps a listener's socket, so its drop counter
// never goes back.
type udpCollector struct {
	r       *Relay
	drops   *prometheus.Desc
	pending *prometheus.Desc
}

func newUDPCollector(r *Relay) *udpCollector {
	return &udpCollector{
		r: r,
		drops: prometheus.NewDesc("ringrelay_listener_udp_receive_drops_total",
			"Datagrams the kernel dropped for a udp listener's socket, mostly because its receive buffer (read_buffer) was full (SO_MEMINFO; wraps at 2^32).",
			[]string{"listener"}, nil),
		pending: prometheus.NewDesc("ringrelay_listener_udp_receive_queue_bytes",
			"Kernel memory held by datagrams waiting in a udp listener's receive buffer.",
			[]string{"listener"}, nil),
	}
}

func (c *udpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.drops
	ch <- c.pending
}

func (c *udpCollector) Collect(ch chan<- prometheus.Metric) {
	rt := c.r.router.Load()
	if rt == nil {
		return
	}
	for _, l := range rt.listeners {
		uc, ok := l.pc.(*net.UDPConn)
		if !ok {
			continue
		}
		name := l.cfg().Name
		if n, err := udpsock.Drops(uc); err == nil {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(n), name)
		}
		if n, err := udpsock.Pending(uc); err == nil {
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n), name)
		}
	}
}
