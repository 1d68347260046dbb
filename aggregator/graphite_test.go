package aggregator

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ringrelay/proxy/line"
)

func graphiteFor(t testing.TB, mod func(*GraphiteConfig)) *Graphite {
	t.Helper()
	cfg := DefaultGraphiteConfig()
	cfg.Times = []string{"10s:1h", "1m:2h"}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return NewGraphite(cfg)
}

// flushLines flushes g at unix time now and returns the bins rendered,
// "path value start resolution count sum min max last" per line, sorted.
func flushLines(g *Graphite, now int64) []string {
	var got []string
	g.Flush(time.Unix(now, 0), func(b Bin) {
		l := strings.TrimSuffix(string(b.AppendLine(nil)), "\n")
		got = append(got, fmt.Sprintf("%s %s %d %g %g %g %g", l, b.Resolution, b.Count, b.Sum, b.Min, b.Max, b.Last))
	})
	slices.Sort(got)
	return got
}

func feed(t *testing.T, g *Graphite, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !g.Line([]byte(l)) {
			t.Fatalf("Line(%q) = false, want true", l)
		}
	}
}

// wantLines compares got with want, sorted.
func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestGraphiteBins(t *testing.T) {
	g := graphiteFor(t, nil)
	// aggregation-api.md §7 B2, plus a point in the next minute
	feed(t, g, "a.b.c 1 1000", "a.b.c 5 1004", "a.b.c 3 1009", "a.b.c 7 1010", "a.b.c 10 1080")
	wantLines(t, "flush at 1010: only bin 1000 has ended", flushLines(g, 1010),
		"a.b.c 3 1000 10s 3 9 1 5 3")
	wantLines(t, "flush at 1019: nothing new has ended", flushLines(g, 1019))
	wantLines(t, "flush at 1100", flushLines(g, 1100),
		"a.b.c 7 1010 10s 1 7 7 7 7",
		"a.b.c 10 1080 10s 1 10 10 10 10",
		// mean of the minute is Σsum/Σcount = 16/4, not the mean of bin means (3+7)/2
		"a.b.c 4 960 1m0s 4 16 1 7 7")
	wantLines(t, "flush at 1140", flushLines(g, 1140), "a.b.c 10 1080 1m0s 1 10 10 10 10")
}

func TestGraphiteCoarseIsMergeOfFine(t *testing.T) {
	g := graphiteFor(t, nil)
	for i := range 60 {
		feed(t, g, fmt.Sprintf("x %d %d", (i*37)%11, 600+i))
	}
	var fine, coarse []Bin
	g.Flush(time.Unix(700, 0), func(b Bin) {
		if b.Resolution == 10*time.Second {
			fine = append(fine, b)
		} else {
			coarse = append(coarse, b)
		}
	})
	if len(fine) != 6 || len(coarse) != 1 {
		t.Fatalf("got %d fine and %d coarse bins, want 6 and 1", len(fine), len(coarse))
	}
	var m Bin
	for _, b := range fine {
		m.Merge(b)
	}
	c := coarse[0]
	if m.Count != c.Count || m.Sum != c.Sum || m.Min != c.Min || m.Max != c.Max || m.Last != c.Last {
		t.Errorf("merge of the 10s bins %+v != the 1m bin %+v", m, c)
	}
	if c.Value != c.Sum/float64(c.Count) {
		t.Errorf("1m value %v, want Σsum/Σcount %v", c.Value, c.Sum/float64(c.Count))
	}
}

func TestGraphiteLateAndRetention(t *testing.T) {
	g := graphiteFor(t, func(c *GraphiteConfig) {
		c.Times = []string{"10s:30s", "1m:5m"}
		c.FlushDelay.Duration = 5 * time.Second
	})
	feed(t, g, "k.max 1 100", "k.max 4 101")
	wantLines(t, "end 110 + delay 5 not reached", flushLines(g, 114))
	wantLines(t, "at 115", flushLines(g, 115), "k.max 4 100 10s 2 5 1 4 4")
	feed(t, g, "k.max 2 109")
	wantLines(t, "late point re-emits the bin with all its values", flushLines(g, 130),
		"k.max 4 100 10s 3 7 1 4 2", "k.max 4 60 1m0s 3 7 1 4 2")
	wantLines(t, "nothing new", flushLines(g, 165))
	// the 10s bin 100 ended at 110, older than 30s at 150: gone
	if g.Line([]byte("k.max 9 105")) != true {
		t.Fatal("point for a held 1m bin refused")
	}
	wantLines(t, "only the 1m bin is still held", flushLines(g, 166), "k.max 9 60 1m0s 4 16 1 9 9")
	flushLines(g, 500) // everything expires
	if g.Line([]byte("k.max 9 105")) {
		t.Error("point older than every retention taken")
	}
	if st := g.Stats(); st.TooOld != 1 || st.Keys != 1 || st.Points != 4 {
		t.Errorf("stats %+v, want TooOld 1, Keys 1, Points 4", st)
	}
	flushLines(g, 501)
	if st := g.Stats(); st.Keys != 0 {
		t.Errorf("a series without bins is still held: %+v", st)
	}
}

func TestGraphiteBadLines(t *testing.T) {
	g := graphiteFor(t, nil)
	for _, c := range []struct {
		line string
		r    line.Reason
	}{
		{"a 1", line.BadFields},
		{"a 1 2 3", line.BadFields},
		{"a x 100", line.BadValue},
		{"a nan 100", line.BadValue},
		{"a 1 x", line.BadTimestamp},
		{"a 1 -5", line.BadTimestamp},
		{"a 1 1e400", line.BadTimestamp},
		{"a\x01b 1 100", line.BadChar},
	} {
		before := g.Stats().Bad[c.r]
		if g.Line([]byte(c.line)) {
			t.Errorf("Line(%q) = true, want false (%s)", c.line, c.r)
		}
		if got := g.Stats().Bad[c.r] - before; got != 1 {
			t.Errorf("Line(%q): %s counted %d times, want 1", c.line, c.r, got)
		}
	}
	if g.Line([]byte("  ")) {
		t.Error("blank line taken")
	}
	g.now = func() time.Time { return time.Unix(1234, 0) }
	feed(t, g, "now 1 -1", "inf inf 1230", "frac 2 1239.9")
	wantLines(t, "-1 is now, fractions bin by their second", flushLines(g, 1240),
		"frac 2 1230 10s 1 2 2 2 2", "inf inf 1230 10s 1 +Inf +Inf +Inf +Inf", "now 1 1230 10s 1 1 1 1 1")
}

func TestGraphiteMaxKeys(t *testing.T) {
	g := graphiteFor(t, func(c *GraphiteConfig) { c.MaxKeys = 2 })
	feed(t, g, "a 1 100", "b 1 100", "a 2 100")
	if g.Line([]byte("c 1 100")) {
		t.Error("third key taken with max_keys 2")
	}
	if st := g.Stats(); st.KeysDropped != 1 || st.Keys != 2 {
		t.Errorf("stats %+v, want KeysDropped 1, Keys 2", st)
	}
	flushLines(g, 1_000_000) // all expire
	feed(t, g, "c 1 1000000")
}

func TestReducerFor(t *testing.T) {
	for _, c := range []struct {
		path string
		want Method
	}{
		{"a.count", MethodSum}, {"a.sum", MethodSum}, {"stats_counts.x", MethodSum},
		{"stats.timers.t.count_90", MethodSum}, {"a.min", MethodMin}, {"a.lower", MethodMin},
		{"a.max", MethodMax}, {"a.upper", MethodMax}, {"stats.timers.t.upper_99", MethodMax},
		{"a.upper_x", MethodAvg}, {"a.avg", MethodAvg}, {"a.counts", MethodAvg}, {"count", MethodSum},
		{"x.count;env=prod", MethodSum}, {"stats.counters.x", MethodAvg}, {"a.maxi", MethodAvg},
	} {
		if got := ReducerFor(c.path); got != c.want {
			t.Errorf("ReducerFor(%q) = %s, want %s", c.path, got, c.want)
		}
	}
	// aggregation-api.md §7 B5: values 2, 5, 10 at 123123 in a 10s bin
	g := graphiteFor(t, nil)
	for _, p := range []string{"moo.goo.max", "moo.goo.min", "moo.goo.avg", "moo.goo.count"} {
		feed(t, g, p+" 2 123121", p+" 5 123122", p+" 10 123123")
	}
	var got []string
	g.Flush(time.Unix(123130, 0), func(b Bin) { got = append(got, string(b.AppendLine(nil))) })
	slices.Sort(got)
	wantLines(t, "reducers", got, "moo.goo.avg 5.666666666666667 123120\n", "moo.goo.count 17 123120\n",
		"moo.goo.max 10 123120\n", "moo.goo.min 2 123120\n")
}

func TestGraphiteRules(t *testing.T) {
	rules := "<env>.applications.<app>.all.requests (60) = sum <env>.applications.<app>.*.requests\n" +
		"<env>.all.p90 (60) = p90 <env>.applications.*.*.requests\n"
	in := []string{"prod.applications.apache.www01.requests 10 125", "prod.applications.apache.www02.requests 5 170"}
	for _, fwd := range []bool{true, false} {
		g := graphiteFor(t, func(c *GraphiteConfig) { c.Rules, c.ForwardAll = rules, fwd })
		feed(t, g, in...)
		want := []string{
			"prod.all.p90 9.5 120 1m0s 2 15 5 10 5",
			"prod.applications.apache.all.requests 15 120 1m0s 2 15 5 10 5",
		}
		if fwd {
			want = append(want,
				"prod.applications.apache.www01.requests 10 120 10s 1 10 10 10 10",
				"prod.applications.apache.www01.requests 10 120 1m0s 1 10 10 10 10",
				"prod.applications.apache.www02.requests 5 170 10s 1 5 5 5 5",
				"prod.applications.apache.www02.requests 5 120 1m0s 1 5 5 5 5")
		}
		wantLines(t, fmt.Sprintf("forward_all %v", fwd), flushLines(g, 180), want...)
		if st := g.Stats(); st.RuleOutputs != 2 {
			t.Errorf("forward_all %v: RuleOutputs %d, want 2", fwd, st.RuleOutputs)
		}
	}
}

func TestGraphiteConfigErrors(t *testing.T) {
	for _, c := range []struct {
		mod  func(*GraphiteConfig)
		want string
	}{
		{func(c *GraphiteConfig) { c.Times = nil }, "times: at least one"},
		{func(c *GraphiteConfig) { c.Times = []string{"10s"} }, `times[0] "10s": want "resolution:retention"`},
		{func(c *GraphiteConfig) { c.Times = []string{"10x:1h"} }, `times[0] "10x:1h": resolution`},
		{func(c *GraphiteConfig) { c.Times = []string{"10s:1h", "15s:2h"} }, `times[1] "15s:2h": resolution 15s must be a multiple of the previous one (10s)`},
		{func(c *GraphiteConfig) { c.Times = []string{"1m:1h", "10s:2h"} }, `times[1] "10s:2h"`},
		{func(c *GraphiteConfig) { c.Times = []string{"1500ms:1h"} }, `whole number of seconds`},
		{func(c *GraphiteConfig) { c.Times = []string{"1h:1m"} }, `retention must be at least`},
		{func(c *GraphiteConfig) { c.MaxKeys = 0 }, "max_keys 0"},
		{func(c *GraphiteConfig) { c.Rules = "a (60) = sum b\nbad rule\n" }, `rules: failed to parse aggregation rule on line 2 "bad rule"`},
	} {
		cfg := DefaultGraphiteConfig()
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate() = %v, want an error containing %q", err, c.want)
		}
	}
	cfg := DefaultGraphiteConfig()
	cfg.Times = []string{"10s:7d", "1m:30d", "10m:5y", "15m:2w"}
	if _, err := cfg.Retentions(); err == nil || !strings.Contains(err.Error(), "times[3]") {
		t.Errorf("2w after 5y: %v", err)
	}
	cfg.Times = cfg.Times[:3]
	rs, err := cfg.Retentions()
	if err != nil || rs[2] != (Retention{10 * time.Minute, 5 * 365 * 24 * time.Hour}) {
		t.Errorf("Retentions() = %v, %v", rs, err)
	}
	d := DefaultGraphiteConfig()
	if err := d.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestGraphiteConcurrent: Line from several goroutines while Flush runs;
// every point is in exactly one emission of its final bin.
func TestGraphiteConcurrent(t *testing.T) {
	g := graphiteFor(t, func(c *GraphiteConfig) { c.Times = []string{"10s:1h"} })
	const workers, per = 4, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				g.Line(fmt.Appendf(nil, "k%d.count 1 %d", i%50, 1000+w))
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var mid int64
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		g.Flush(time.Unix(1005, 0), func(b Bin) { mid += b.Count }) // bin 1000 not final yet
	}
	var total int64
	g.Flush(time.Unix(1010, 0), func(b Bin) { total += b.Count })
	if mid != 0 || total != workers*per {
		t.Errorf("counted %d before the bin ended and %d after, want 0 and %d", mid, total, workers*per)
	}
}

func TestGraphiteLineAllocs(t *testing.T) {
	g := graphiteFor(t, func(c *GraphiteConfig) { c.Rules = "all.<a> (60) = p90 <a>.*\n" })
	l := []byte("app.requests.count 42.5 1700000000")
	g.Line(l)
	if n := testing.AllocsPerRun(1000, func() { g.Line(l) }); n != 0 {
		t.Errorf("Line allocates %v times per line for a key already seen, want 0", n)
	}
}

func TestAppendPyRepr(t *testing.T) {
	// Python 3: repr(float(x))
	tenth := 0.1
	for _, c := range []struct {
		v    float64
		want string
	}{
		{15.5, "15.5"}, {tenth + 2*tenth, "0.30000000000000004"}, {1e-5, "1e-05"}, {0.0001, "0.0001"},
		{1e16, "1e+16"}, {1.5e16, "1.5e+16"}, {123456789012345.6, "123456789012345.6"},
		{1e22, "1e+22"}, {-2.5e-7, "-2.5e-07"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{100, "100.0"}, {1234567890123456, "1234567890123456.0"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
		{0.5, "0.5"}, {math.Copysign(0, -1), "-0.0"},
	} {
		if got := string(AppendPyRepr(nil, c.v)); got != c.want {
			t.Errorf("AppendPyRepr(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// BenchmarkGraphiteLine: 10,000 paths already seen, two resolutions, no
// rules. One op is one line.
func BenchmarkGraphiteLine(b *testing.B) { benchGraphite(b, "") }

// BenchmarkGraphiteLineRules: as BenchmarkGraphiteLine, each path also
// feeding one carbon-aggregator rule.
func BenchmarkGraphiteLineRules(b *testing.B) {
	benchGraphite(b, "<a>.all.<m>.count (60) = sum <a>.*.<m>.count\n")
}

func benchGraphite(b *testing.B, rules string) {
	g := graphiteFor(b, func(c *GraphiteConfig) { c.Rules = rules })
	if rules != "" && len(g.rules.Match("app1.host1.requests.count", nil)) != 1 {
		b.Fatal("the rule does not match the benchmark's paths")
	}
	var lines [][]byte
	size := 0
	for i := range 10000 {
		l := fmt.Appendf(nil, "app%d.host%d.requests.count %d.5 %d", i%20, i, i%97, 1700000000+i%60)
		lines = append(lines, l)
		size += len(l)
		g.Line(l)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		g.Line(lines[i%len(lines)])
	}
}

// BenchmarkGraphiteFlush: one flush of 100,000 paths with one new point
// each, two resolutions. One op is one flush; Line is blocked only for the
// copy-out ("µs-locked/op": how long Flush held the lock Line takes).
func BenchmarkGraphiteFlush(b *testing.B) {
	g := graphiteFor(b, nil)
	var lines [][]byte
	for i := range 100000 {
		lines = append(lines, fmt.Appendf(nil, "app.host%d.requests.count 1 %d", i, 1700000000))
	}
	b.ReportAllocs()
	var locked time.Duration
	for i := range b.N {
		b.StopTimer()
		for _, l := range lines {
			l[len(l)-1] = byte('0' + i%10)
			g.Line(l)
		}
		b.StartTimer()
		g.Flush(time.Unix(1700000100, 0), func(Bin) {})
		locked += g.locked
	}
	b.ReportMetric(float64(locked.Microseconds())/float64(b.N), "µs-locked/op")
}
