package aggregator

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// flushMap flushes s at now and returns its lines as key → "value ts".
func flushMap(s *Statsd, now time.Time) map[string]string {
	m := map[string]string{}
	s.Flush(now, func(line []byte) {
		k, v, _ := strings.Cut(string(line), " ")
		m[k] = v
	})
	return m
}

func testConfig() StatsdConfig {
	cfg := DefaultStatsdConfig()
	cfg.FlushInterval.Duration = time.Second
	return cfg
}

// Where Etsy statsd 0.9.0 crashes (a rate that passes is_valid_packet but
// not /^@([\d\.]+)/), we count a bad line and keep going.
func TestStatsdCrashFormsAreBadLines(t *testing.T) {
	for _, line := range []string{"k:1|c|@ 0.5", "k:1|c|@Infinity", "k:1|c|@+1", "k:1|ms|@ 1", "k:1|g|@\t1", "k:1|s|@Infinity", "k:1|c|@-Infinity"} {
		s := NewStatsd(testConfig())
		s.Datagram([]byte(line + "\nok:1|c"))
		got := flushMap(s, time.Unix(100, 0))
		if got["stats_counts.statsd.bad_lines_seen"] != "1 100" {
			t.Errorf("%q: bad_lines_seen = %q, want 1", line, got["stats_counts.statsd.bad_lines_seen"])
		}
		if _, ok := got["stats_counts.k"]; ok {
			t.Errorf("%q: counter k was created", line)
		}
		if got["stats_counts.ok"] != "1 100" {
			t.Errorf("%q: the next line was lost: ok = %q", line, got["stats_counts.ok"])
		}
	}
}

func TestStatsdFlushLines(t *testing.T) {
	s := NewStatsd(testConfig())
	s.Datagram([]byte("a:1|c\nt:2|ms\ng:3|g\nset:x|s"))
	got := flushMap(s, time.Unix(1000, 500_000_000)) // 1000.5 s rounds up, as Math.round
	for k, want := range map[string]string{
		"stats.a": "1 1001", "stats_counts.a": "1 1001", "stats.timers.t.upper_90": "2 1001",
		"stats.gauges.g": "3 1001", "stats.sets.set.count": "1 1001", "statsd.numStats": "7 1001",
		"stats.statsd.graphiteStats.last_exception": "0 1001",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, ok := got["stats.gauges.statsd.timestamp_lag"]; ok {
		t.Errorf("timestamp_lag in the first flush")
	}
	got = flushMap(s, time.Unix(1003, 0))
	if got["stats.gauges.statsd.timestamp_lag"] != "1 1003" { // 1003 - 1001 - 1
		t.Errorf("timestamp_lag = %q, want 1", got["stats.gauges.statsd.timestamp_lag"])
	}
	if got["stats.statsd.graphiteStats.last_flush"] != "1001 1003" {
		t.Errorf("last_flush = %q, want the previous flush", got["stats.statsd.graphiteStats.last_flush"])
	}
}

func TestStatsdConfigTOML(t *testing.T) {
	const doc = `
flush_interval = "10s"
percent_threshold = [90, -10, 99.9]
legacy_namespace = false
global_prefix = "stats"
prefix_counter = "c"
prefix_timer = "t"
prefix_gauge = "g"
prefix_set = "s"
prefix_stats = "statsd"
global_suffix = "h1"
flush_counts = true
delete_idle_stats = false
delete_gauges = true
gauges_max_ttl = 3
calculated_timer_metrics = ["count", "upper_percent"]
[[histogram]]
metric = ""
bins = [10, 100, inf]
`
	cfg := DefaultStatsdConfig()
	d := toml.NewDecoder(strings.NewReader(doc))
	d.DisallowUnknownFields()
	if err := d.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.FlushInterval.Duration != 10*time.Second || cfg.DeleteGauges == nil || !*cfg.DeleteGauges ||
		len(cfg.Histogram) != 1 || !math.IsInf(cfg.Histogram[0].Bins[2], 1) || cfg.PercentThreshold[2] != 99.9 {
		t.Errorf("decoded %+v", cfg)
	}
	c, tm, st, g := cfg.deletes()
	if c || tm || st || !g {
		t.Errorf("deletes() = %v %v %v %v, want only gauges", c, tm, st, g)
	}
}

func TestStatsdConfigDefaults(t *testing.T) {
	cfg := DefaultStatsdConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.FlushInterval.Duration != 10*time.Second || len(cfg.PercentThreshold) != 1 || cfg.PercentThreshold[0] != 90 ||
		!cfg.LegacyNamespace || cfg.GlobalPrefix != "stats" || cfg.PrefixStats != "statsd" || !cfg.FlushCounts ||
		cfg.DeleteIdleStats || cfg.GaugesMaxTTL != 1 {
		t.Errorf("DefaultStatsdConfig() = %+v", cfg)
	}
}

func TestStatsdConfigValidate(t *testing.T) {
	for _, c := range []struct {
		edit func(*StatsdConfig)
		key  string
	}{
		{func(c *StatsdConfig) { c.FlushInterval.Duration = 0 }, "flush_interval"},
		{func(c *StatsdConfig) { c.FlushInterval.Duration = 1500 * time.Microsecond }, "flush_interval"},
		{func(c *StatsdConfig) { c.PercentThreshold = []float64{math.NaN()} }, "percent_threshold"},
		{func(c *StatsdConfig) { c.PercentThreshold = []float64{math.Inf(1)} }, "percent_threshold"},
		{func(c *StatsdConfig) { c.GaugesMaxTTL = 0 }, "gauges_max_ttl"},
		{func(c *StatsdConfig) { c.CalculatedTimerMetrics = []string{"p99"} }, "calculated_timer_metrics"},
		{func(c *StatsdConfig) { c.Histogram = []HistogramConfig{{Bins: []float64{math.NaN()}}} }, "histogram[0].bins"},
		{func(c *StatsdConfig) { c.GlobalSuffix = "a b" }, "global_suffix"},
		{func(c *StatsdConfig) { c.PrefixStats = "x\n" }, "prefix_stats"},
	} {
		cfg := DefaultStatsdConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.key+" ") {
			t.Errorf("Validate() = %v, want an error naming %s", err, c.key)
		}
	}
}

// Several readers and a flusher at once: every count arrives exactly once.
func TestStatsdConcurrent(t *testing.T) {
	s := NewStatsd(testConfig())
	const readers, per = 4, 2000
	var wg sync.WaitGroup
	total := map[string]float64{}
	var mu sync.Mutex
	stop := make(chan struct{})
	flushed := make(chan struct{})
	collect := func(now time.Time) {
		s.Flush(now, func(line []byte) {
			f := strings.Fields(string(line))
			if strings.HasPrefix(f[0], "stats_counts.") {
				v, _ := strconv.ParseFloat(f[1], 64)
				mu.Lock()
				total[f[0]] += v
				mu.Unlock()
			}
		})
	}
	go func() {
		defer close(flushed)
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
				collect(time.Unix(i, 0))
			}
		}
	}()
	for r := range readers {
		wg.Go(func() {
			for i := range per {
				s.Datagram(fmt.Appendf(nil, "c%d:1|c\nshared:2|c\nt:%d|ms\ng:%d|g\ns:%d|s", r, i, i, i))
			}
		})
	}
	wg.Wait()
	close(stop)
	<-flushed
	collect(time.Unix(1e6, 0))
	for r := range readers {
		if k := fmt.Sprintf("stats_counts.c%d", r); total[k] != per {
			t.Errorf("%s = %v, want %d", k, total[k], per)
		}
	}
	if total["stats_counts.shared"] != 2*readers*per || total["stats_counts.statsd.packets_received"] != readers*per ||
		total["stats_counts.statsd.metrics_received"] != 5*readers*per || total["stats_counts.statsd.bad_lines_seen"] != 0 {
		t.Errorf("totals %v", total)
	}
}

// A line for a key already seen allocates nothing.
func TestStatsdSeenKeyAllocs(t *testing.T) {
	s := NewStatsd(testConfig())
	for _, line := range []string{
		"counter.a.b:1|c", "counter.r:1.5|c|@0.1", "gauge.x:+3|g", "gauge.y:42|g", "set.s:member|s",
		"tagged:1|c|#env:prod,host:a", "my key/x:1|c", "multi:1|c:2|c", "a:1|c\nb:2|c",
	} {
		b := []byte(line)
		s.Datagram(b)
		if n := testing.AllocsPerRun(1000, func() { s.Datagram(b) }); n != 0 {
			t.Errorf("Datagram(%q) allocates %v times per call", line, n)
		}
	}
	// a timer's samples reuse the slice of two flushes ago
	tb := []byte("timer.t:12.5|ms")
	for range 3 {
		for range 2000 {
			s.Datagram(tb)
		}
		s.Flush(time.Unix(1, 0), func([]byte) {})
	}
	if n := testing.AllocsPerRun(1000, func() { s.Datagram(tb) }); n != 0 {
		t.Errorf("Datagram(%q) allocates %v times per call", tb, n)
	}
}

func TestOracleBatches(t *testing.T) {
	in := "a:1|c\n## comment\nb:1|c\\nc:2|c\n\n## flush\nd:1|c\\\\n\n## flush"
	got := OracleBatches([]byte(in))
	want := [][]string{{"a:1|c", "b:1|c\nc:2|c", ""}, {"d:1|c\\\n"}, nil}
	if len(got) != len(want) {
		t.Fatalf("OracleBatches(%q): %d batches, want %d", in, len(got), len(want))
	}
	for i := range want {
		var g []string
		for _, d := range got[i] {
			g = append(g, string(d))
		}
		if fmt.Sprint(g) != fmt.Sprint(want[i]) {
			t.Errorf("OracleBatches(%q) batch %d = %q, want %q", in, i, g, want[i])
		}
	}
}

func TestRunOracleFormatClock(t *testing.T) {
	calls := 0
	clock := func() time.Time { calls++; return time.Unix(int64(calls*10), 0) }
	var out bytes.Buffer
	if err := RunOracleFormat(testConfig(), strings.NewReader("a:1|c\n## flush\nb:1|c\n"), &out, 1, clock); err != nil {
		t.Fatal(err)
	}
	if calls != 4 { // the unprinted startup flush, two batches, one extra
		t.Errorf("clock called %d times, want 4", calls)
	}
	if got := strings.Count(out.String(), "## flush "); got != 3 {
		t.Errorf("%d flush headers, want 3:\n%s", got, out.String())
	}
	if !strings.Contains(out.String(), "stats.gauges.statsd.timestamp_lag MASKED TS\n") {
		t.Errorf("timestamp_lag not masked:\n%s", out.String())
	}
	bad := DefaultStatsdConfig()
	bad.GaugesMaxTTL = 0
	if err := RunOracleFormat(bad, strings.NewReader(""), &out, 0); err == nil {
		t.Errorf("RunOracleFormat with an invalid config: no error")
	}
}

// A datagram lands wholly in one interval, though its keys are in
// different shards: every flush has the same count for all the keys a
// datagram names, while readers send and a flusher flushes.
func TestStatsdDatagramInOneInterval(t *testing.T) {
	s := NewStatsd(testConfig())
	var dg []byte
	const keys = 40 // over every shard, most likely
	for k := range keys {
		dg = fmt.Appendf(dg, "one.k%d:1|c\n", k)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					s.Datagram(dg)
				}
			}
		})
	}
	check := func(now time.Time) {
		counts := map[string]bool{}
		s.Flush(now, func(line []byte) {
			if f := strings.Fields(string(line)); strings.HasPrefix(f[0], "stats_counts.one.") {
				counts[f[1]] = true
			}
		})
		if len(counts) > 1 {
			t.Errorf("one flush has different counts for the keys of one datagram: %v", counts)
		}
	}
	for i := range 200 {
		check(time.Unix(int64(i+1), 0))
	}
	close(stop)
	wg.Wait()
	check(time.Unix(1000, 0))
}

// max_keys holds exactly while readers add new keys at once.
func TestStatsdMaxKeysConcurrent(t *testing.T) {
	cfg := testConfig()
	cfg.MaxKeys = 100 // statsd's 3 own counters + 97
	s := NewStatsd(cfg)
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for i := range 100 {
				s.Datagram(fmt.Appendf(nil, "r%d.k%d:1|c", r, i))
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Keys != 100 || st.KeysDropped != 400-97 {
		t.Errorf("keys %d, dropped %d; want 100 and %d", st.Keys, st.KeysDropped, 400-97)
	}
}

// sortSamples sorts as slices.Sort does, on either side of its radix
// threshold, for integers, fractions, huge and tiny values, Infinity and -0.
func TestSortSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var scratch []uint64
	for _, n := range []int{1, 2, 255, 256, 257, 3000, 100000} {
		for _, gen := range []func() float64{
			func() float64 { return float64(rng.IntN(1000)) },
			func() float64 { return rng.Float64() * 1e6 },
			func() float64 {
				return [...]float64{0, math.Copysign(0, -1), math.Inf(1), 1e-300, 5e-324, 1e300, 0.1, 7}[rng.IntN(8)]
			},
		} {
			vals := make([]float64, n)
			for i := range vals {
				vals[i] = gen()
			}
			want := slices.Clone(vals)
			slices.Sort(want)
			scratch = sortSamples(vals, scratch)
			for i := range want {
				if vals[i] != want[i] {
					t.Fatalf("n=%d: sorted[%d] = %v, want %v", n, i, vals[i], want[i])
				}
			}
		}
	}
}
