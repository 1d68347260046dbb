package aggregator

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzStatsdDatagram: any datagram is accepted without a panic, counts as
// one packet and as many metrics as it has non-empty lines, and every
// flushed line is "key value timestamp" with a key free of white space.
func FuzzStatsdDatagram(f *testing.F) {
	for _, seed := range []string{
		"a:1|c", "a:1|c\nb:2|ms\n\nc:3|g", "k:1|c:2|ms:3|g:4|s", "k:1|c|#env:prod,h;x:y", "k;t=1:5|ms|@0.5",
		"k:1|c|@0", "k:1|c|@1e-1", "k:1|c|@ 0.5", "k:1|c|@Infinity", "my key/\u00e9:1|c", "k:-5|ms ", "s:\xe2\x82|s",
		"g:+0x10|g", "t:Infinity|ms", "", "\n", "abc", "k:", ":1|c", "__proto__:1|c", "s:__proto__|s",
	} {
		f.Add([]byte(seed))
	}
	cfg := testConfig()
	cfg.PercentThreshold = []float64{90, -100, 99.9, 0}
	cfg.Histogram = []HistogramConfig{{Metric: "", Bins: []float64{1, 10}}}
	f.Fuzz(func(t *testing.T, d []byte) {
		s := NewStatsd(cfg)
		s.Datagram(d)
		metrics := 0
		for _, l := range bytes.Split(d, []byte("\n")) {
			if len(l) > 0 {
				metrics++
			}
		}
		got := map[string]string{}
		s.Flush(time.Unix(10, 0), func(line []byte) {
			f := strings.Split(string(line), " ")
			if len(f) != 3 || f[2] != "10" || strings.ContainsAny(f[0], " \t\n") {
				t.Fatalf("Datagram(%q): bad line %q", d, line)
			}
			got[f[0]] = f[1]
		})
		if got["stats_counts.statsd.packets_received"] != "1" {
			t.Errorf("Datagram(%q): packets_received = %q, want 1", d, got["stats_counts.statsd.packets_received"])
		}
		if want := FormatJSNumber(float64(metrics)); !bytes.Contains(d, []byte("metrics_received")) && got["stats_counts.statsd.metrics_received"] != want {
			t.Errorf("Datagram(%q): metrics_received = %q, want %s", d, got["stats_counts.statsd.metrics_received"], want)
		}
	})
}
