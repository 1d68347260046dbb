package proxy

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// summaryCounters are the series the final log line adds up: what came
// in, what went out, and every way a line was lost, by reason.
var summaryCounters = []struct {
	metric string
	label  string // the label that names the reason ("" for a total)
	prefix string
}{
	{"ringrelay_listener_lines_received_total", "", "received"},
	{"ringrelay_pool_lines_routed_total", "", "routed"},
	{"ringrelay_backend_lines_sent_total", "", "sent"},
	{"ringrelay_listener_lines_invalid_total", "reason", "invalid"},
	{"ringrelay_listener_lines_rejected_total", "", "rejected"},
	{"ringrelay_pool_lines_dropped_total", "reason", "pool_dropped"},
	{"ringrelay_backend_lines_dropped_total", "reason", "backend_dropped"},
	{"ringrelay_listener_udp_receive_drops_total", "", "udp_kernel_dropped"},
	{"ringrelay_listener_connections_refused_total", "", "connections_refused"},
	{"ringrelay_listener_unread_bytes_total", "", "unread_bytes"},
}

// lossSummary reads the registry and returns every count of
// summaryCounters, over all listeners, pools and backends, as log fields
// (reasons as "backend_dropped.queue_full"). Zero reasons are left out;
// totals are always there.
func lossSummary(g prometheus.Gatherer) []zap.Field {
	mfs, err := g.Gather()
	if err != nil {
		return []zap.Field{zap.NamedError("metrics_error", err)}
	}
	sums := map[string]float64{}
	for _, sc := range summaryCounters {
		if sc.label == "" {
			sums[sc.prefix] += 0
		}
	}
	for _, mf := range mfs {
		for _, sc := range summaryCounters {
			if mf.GetName() != sc.metric {
				continue
			}
			for _, m := range mf.GetMetric() {
				key := sc.prefix
				if sc.label != "" {
					for _, lp := range m.GetLabel() {
						if lp.GetName() == sc.label {
							key += "." + lp.GetValue()
						}
					}
				}
				sums[key] += m.GetCounter().GetValue()
			}
		}
	}
	keys := make([]string, 0, len(sums))
	for k, v := range sums {
		if v != 0 || !strings.Contains(k, ".") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	fields := make([]zap.Field, len(keys))
	for i, k := range keys {
		fields[i] = zap.Uint64(k, uint64(sums[k]))
	}
	return fields
}
