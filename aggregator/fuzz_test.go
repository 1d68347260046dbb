package aggregator

import (
	"bytes"
	"math"
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

// FuzzStatsdPlainLine: the one-pass parse of a common line gives the
// operations the general parse gives, for every line it takes.
func FuzzStatsdPlainLine(f *testing.F) {
	for _, seed := range []string{
		"a:1|c", "bench.timers.key0001:523|ms", "g:+5|g", "g:-0|g", "k:1|c|@0.5", "k:1|c|@0", "k:1|c|@1e-1",
		"k:1|c|@ 0.5", "k:1|x", "k:1", "k:|c", "k:1.5e3|ms", "k:0x10|c", "k:007|c", "k:1|c|#t", "k:1|c:2|ms",
		"k:1|c|@0.5|x", "k:abc|s", "k: 1 |c", "k:1| c ", "k:1234567890123456|c", "k:+|c", "k:-|g",
	} {
		f.Add([]byte(seed))
	}
	s := NewStatsd(testConfig())
	f.Fuzz(func(t *testing.T, seg []byte) {
		plain, general := parseBuf{s: s}, parseBuf{s: s}
		if bytes.IndexByte(seg, '\n') >= 0 || len(seg) == 0 || !plain.plainLine(seg) {
			return
		}
		general.generalLine(seg)
		if len(plain.ops) != len(general.ops) {
			t.Fatalf("%q: plain %d ops, general %d", seg, len(plain.ops), len(general.ops))
		}
		if plain.bad != general.bad || plain.badBy != general.badBy || plain.own != general.own {
			t.Fatalf("%q: plain bad %d %v own %v, general bad %d %v own %v", seg, plain.bad, plain.badBy, plain.own,
				general.bad, general.badBy, general.own)
		}
		for i := range plain.ops {
			p, g := plain.ops[i], general.ops[i]
			pk, gk := plain.keyOf(&p), general.keyOf(&g)
			if p.kind != g.kind || p.sign != g.sign || p.sh != g.sh || !bytes.Equal(pk, gk) ||
				!bytes.Equal(p.member, g.member) || !sameFloat(p.v, g.v) || !sameFloat(p.rate, g.rate) {
				t.Fatalf("%q: op %d: plain %+v, general %+v", seg, i, p, g)
			}
		}
	})
}

// FuzzJSNumberPlainInteger: the integer fast path reads what the general
// conversion reads, -0 included.
func FuzzJSNumberPlainInteger(f *testing.F) {
	for _, seed := range []string{"0", "-0", "+7", "007", "999999999999999", "1234567890123456", "-", "+", "", "1.5", " 1"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		v, ok := plainInteger(s)
		if !ok {
			return
		}
		w, wok := jsNumberGeneral(s)
		if !wok || !sameFloat(v, w) {
			t.Fatalf("%q: plainInteger %v, general %v (ok %v)", s, v, w, wok)
		}
	})
}

// sameFloat is equality that tells -0 from 0 and takes NaN as itself.
func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b
}
