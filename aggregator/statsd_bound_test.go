package aggregator

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"ringrelay/proxy/line"
)

// value reads the number of a flushMap entry ("value ts").
func value(t *testing.T, m map[string]string, key string) float64 {
	t.Helper()
	v, _, _ := strings.Cut(m[key], " ")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s: %q is not a number (flushed: %d lines)", key, m[key], len(m))
	}
	return f
}

// A timer beyond max_timer_samples keeps a bounded sample, exact totals,
// and percentiles close to the truth.
func TestStatsdTimerSamplesBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxTimerSamples = 500
	cfg.Histogram = []HistogramConfig{{Metric: "", Bins: []float64{5000, math.Inf(1)}}}
	s := NewStatsd(cfg)
	const n = 20000
	vals := rand.Perm(n)
	var sum, sumSq float64
	for _, v := range vals {
		x := float64(v + 1) // 1..n
		sum += x
		sumSq += x * x
		s.Datagram(fmt.Appendf(nil, "lat:%d|ms", v+1))
	}
	st := s.Stats()
	if st.Samples != 500 || st.SamplesShed != n-500 {
		t.Fatalf("held %d samples, shed %d; want 500 and %d", st.Samples, st.SamplesShed, n-500)
	}
	if got := len(s.shards[s.shardOf([]byte("lat"))].timers["lat"].vals); got != 500 {
		t.Fatalf("the timer holds %d samples, bound 500", got)
	}
	m := flushMap(s, time.Unix(1000, 0))
	exact := map[string]float64{
		"stats.timers.lat.count":       n,
		"stats.timers.lat.sum":         sum,
		"stats.timers.lat.sum_squares": sumSq,
		"stats.timers.lat.upper":       n,
		"stats.timers.lat.lower":       1,
		"stats.timers.lat.mean":        sum / n,
		"stats.timers.lat.count_90":    n * 9 / 10,
	}
	for k, want := range exact {
		if got := value(t, m, k); math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Errorf("%s = %v, want exactly %v", k, got, want)
		}
	}
	// The population's std of 1..n is sqrt((n²-1)/12).
	if got, want := value(t, m, "stats.timers.lat.std"), math.Sqrt((n*n-1)/12.0); math.Abs(got-want) > 1e-6*want {
		t.Errorf("std = %v, want %v", got, want)
	}
	// From a uniform sample of 500: within 10% of the range (the
	// sample's standard error is about 1.3% here; this never fails by chance).
	approx := map[string]float64{
		"stats.timers.lat.median":             n / 2,
		"stats.timers.lat.upper_90":           n * 0.9,
		"stats.timers.lat.mean_90":            n * 0.45,
		"stats.timers.lat.histogram.bin_5000": n / 4,
		"stats.timers.lat.histogram.bin_inf":  n * 3 / 4,
	}
	for k, want := range approx {
		if got := value(t, m, k); math.Abs(got-want) > 0.1*n {
			t.Errorf("%s = %v, want about %v", k, got, want)
		}
	}
	if s.Stats().Samples != 0 {
		t.Errorf("samples held after the flush: %d", s.Stats().Samples)
	}
	// The next interval starts exact again.
	s.Datagram([]byte("lat:7|ms"))
	m = flushMap(s, time.Unix(1001, 0))
	if value(t, m, "stats.timers.lat.sum") != 7 || value(t, m, "stats.timers.lat.count") != 1 {
		t.Errorf("after the flush: sum %s, count %s; want 7 and 1", m["stats.timers.lat.sum"], m["stats.timers.lat.count"])
	}
}

// Within the bound nothing changes: the output is statsd's, digit for digit.
func TestStatsdTimerBoundKeepsStatsdWithin(t *testing.T) {
	feed := func(s *Statsd) map[string]string {
		for i := range 300 {
			s.Datagram(fmt.Appendf(nil, "t:%d|ms|@0.5\nu:%d.25|ms", i*7%101, i%13))
		}
		return flushMap(s, time.Unix(2000, 0))
	}
	unbounded, bounded := testConfig(), testConfig()
	bounded.MaxTimerSamples = 300
	a, b := feed(NewStatsd(unbounded)), feed(NewStatsd(bounded))
	if !maps.Equal(a, b) {
		for k, v := range a {
			if b[k] != v {
				t.Errorf("%s: %q without a bound, %q with max_timer_samples 300", k, v, b[k])
			}
		}
		t.Fatal("a bound that is not reached changed the output")
	}
}

func TestStatsdBadLinesByReason(t *testing.T) {
	s := NewStatsd(testConfig())
	for _, l := range []string{"nocolon", "k:1", "k:1|c|@x", "k:x|c", "k:-1|ms", "k:1|c"} {
		s.Datagram([]byte(l))
	}
	st := s.Stats()
	want := map[line.Reason]uint64{line.BadFields: 1, line.BadType: 1, line.BadRate: 1, line.BadValue: 2}
	var total uint64
	for r, n := range st.BadByReason {
		total += n
		if n != want[line.Reason(r)] {
			t.Errorf("%s: %d bad lines, want %d", line.Reason(r), n, want[line.Reason(r)])
		}
	}
	if total != st.BadLines || total != 5 {
		t.Errorf("by reason %d, BadLines %d; want 5 and 5", total, st.BadLines)
	}
}
