package proxy

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"ringrelay/discovery"
)

// TestREADMEMetricsExist: every metric name the README mentions is one the
// relay (or serverset-register) registers. A README row like
// "`ringrelay_backend_lines_sent_total`, `..._bytes_sent_total`" names
// ringrelay_backend_bytes_sent_total: "..." stands for a prefix of the
// name before it.
func TestREADMEMetricsExist(t *testing.T) {
	cfg := loadConfigT(t, `
[[listeners]]
name = "statsd"
listen = "udp://127.0.0.1:0"
format = "statsd"
aggregator = "st"

[aggregators.st]
output = ["carbon", "sink:store"]

[aggregators.gr]
kind = "graphite"
output = ["carbon"]

[sinks.store]
kind = "memory"
`+poolTOML("carbon", "carbon_ch", 1, "127.0.0.1:1"))
	reg := prometheus.NewRegistry()
	r, err := New(Options{Config: cfg, Registry: reg, NoBackends: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(t.Context()) })
	discovery.NewRegistrarMetrics(reg)
	registered := map[string]bool{}
	ch := make(chan *prometheus.Desc, 1024)
	go func() { reg.Describe(ch); close(ch) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			registered[m[1]] = true
		}
	}

	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Names in backquotes, full or "..._rest", in document order, and
	// serverset-register's "ringrelay_register_*: `a`, `b`" list.
	tok := regexp.MustCompile("`(ringrelay_[a-z0-9_]+|\\.\\.\\._[a-z0-9_]+)(?:\\{[^}]*\\})?`")
	var missing []string
	last := ""
	for _, m := range tok.FindAllStringSubmatch(string(b), -1) {
		name := m[1]
		if rest, ok := strings.CutPrefix(name, "..."); ok {
			name = expandAbbrev(last, rest, registered)
		} else {
			last = name
		}
		if !registered[name] {
			missing = append(missing, m[1]+" ("+name+")")
		}
	}
	reglist := regexp.MustCompile("`ringrelay_register_\\*`: ([^.]+)\\.")
	if m := reglist.FindStringSubmatch(string(b)); m != nil {
		for _, n := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[1], -1) {
			if !registered["ringrelay_register_"+n[1]] {
				missing = append(missing, "ringrelay_register_"+n[1])
			}
		}
	} else {
		t.Error("the README no longer lists serverset-register's metrics")
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("the README names metric %s, which is not registered", m)
	}
}

// expandAbbrev resolves "..._rest" after full name last: the longest
// prefix of last (cut at an underscore) that makes a registered name, or
// the shortest when none does (reported as missing).
func expandAbbrev(last, rest string, registered map[string]bool) string {
	parts := strings.Split(last, "_")
	shortest := ""
	for i := len(parts) - 1; i >= 1; i-- {
		name := strings.Join(parts[:i], "_") + rest
		if registered[name] {
			return name
		}
		shortest = name
	}
	return shortest
}
