package memory

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/config"
	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// t0 is a bin boundary of every resolution the tests use.
const t0 = 1_800_000_000 - 1_800_000_000%3600

func rets(t testing.TB, times ...string) []sinks.Retention {
	t.Helper()
	rs, err := sinks.ParseTimes(times)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// openStore opens a store on clk that the test closes at its end.
func openStore(t testing.TB, c Config, clk *sinkstest.Clock, times ...string) *Store {
	t.Helper()
	s, err := open("test", c, rets(t, times...), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestConfigValidate(t *testing.T) {
	d := func(s string) config.Duration {
		v, _ := time.ParseDuration(s)
		return config.Duration{Duration: v}
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string // error prefix, "" for none
	}{
		{"default", DefaultConfig(), ""},
		{"snapshot", Config{MaxSeries: 1, MaxPoints: 1 << 30, Snapshot: "/x", SnapshotInterval: d("10s")}, ""},
		{"only at close", Config{MaxSeries: 1, MaxPoints: 1 << 30, Snapshot: "/x"}, ""},
		{"no series", Config{MaxSeries: 0, MaxPoints: 1 << 30, SnapshotInterval: d("1m")}, "max_series 0:"},
		{"sub-second", Config{MaxSeries: 1, MaxPoints: 1 << 30, SnapshotInterval: d("10ms")}, "snapshot_interval \"10ms\":"},
	} {
		err := tc.c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%s: Validate(%+v) = %v, want %q", tc.name, tc.c, err, tc.want)
		}
	}
}

func TestOpenRefusesBadRetentions(t *testing.T) {
	for _, rs := range [][]sinks.Retention{
		nil,
		{{Resolution: 1500 * time.Millisecond, Retention: time.Hour}},
		{{Resolution: time.Minute, Retention: time.Second}},
		{{Resolution: time.Minute, Retention: time.Hour}, {Resolution: 10 * time.Second, Retention: time.Hour}},
	} {
		if _, err := Open("x", DefaultConfig(), rs, zap.NewNop()); err == nil || !strings.HasPrefix(err.Error(), "times") {
			t.Errorf("Open with times %v: err %v, want one naming times", rs, err)
		}
	}
}

func TestRingKeepsNewestWithinBound(t *testing.T) {
	var r ring
	for i := range int64(10) {
		if !r.put(bin{start: 10 * i}, 6) {
			t.Fatalf("put %d refused", i)
		}
	}
	if got := r.n; got != 6 || len(r.buf) > 6 {
		t.Fatalf("ring holds %d bins in a buffer of %d, want 6 in at most 6", got, len(r.buf))
	}
	if r.put(bin{start: 0}, 6) {
		t.Errorf("a bin older than every bin of a full ring was kept")
	}
	// Out of order: 75 goes between 70 and 80, and the oldest (40) goes
	// as the ring is full.
	r.put(bin{start: 75}, 6)
	var got []int64
	for i := range r.n {
		got = append(got, r.at(i).start)
	}
	if want := []int64{50, 60, 70, 75, 80, 90}; !slices.Equal(got, want) {
		t.Errorf("after inserting 75: starts %v, want %v", got, want)
	}
	if !r.put(bin{start: 70, count: 7}, 6) || r.at(2).count != 7 {
		t.Errorf("overwrite of 70 in the middle not stored: %+v", *r.at(2))
	}
	if left := r.expire(75); left != 3 {
		t.Errorf("expire(75) left %d bins, want 3", left)
	}
	r.shrink()
	if r.n != 3 || r.at(0).start != 75 {
		t.Errorf("after shrink: %d bins from %d, want 3 from 75", r.n, r.at(0).start)
	}
}

func TestPointsPerSeriesWrap(t *testing.T) {
	clk := sinkstest.NewClock(t0)
	s := openStore(t, DefaultConfig(), clk, "10s:60s")
	for i := range int64(20) {
		clk.Set(t0 + 10*i)
		s.Write([]sinks.Point{sinkstest.Point("a.b", 10, t0+10*i, float64(i))})
	}
	got := sinkstest.Fetch(t, s, "a.b", 10, 0, math.MaxInt64)
	if want := []int64{t0 + 140, t0 + 150, t0 + 160, t0 + 170, t0 + 180, t0 + 190}; !slices.Equal(sinkstest.Starts(got), want) {
		t.Errorf("starts %v, want the newest 6: %v", sinkstest.Starts(got), want)
	}
	s.mu.RLock()
	buf := len(s.byPath["a.b"].rings[0].buf)
	s.mu.RUnlock()
	if buf > 6 {
		t.Errorf("ring buffer has %d bins, want at most retention/resolution = 6", buf)
	}
}

func TestMaxSeriesCountsDrops(t *testing.T) {
	clk := sinkstest.NewClock(t0)
	s := openStore(t, Config{MaxSeries: 3, MaxPoints: 1 << 30}, clk, "10s:1h")
	for i := range 5 {
		s.Write([]sinks.Point{sinkstest.Point(fmt.Sprintf("s.%d", i), 10, t0, 1)})
	}
	s.Write([]sinks.Point{sinkstest.Point("s.0", 10, t0+10, 2)}) // a known series still writes
	if st := s.Stats(); st.Written != 4 || st.Dropped != 2 {
		t.Errorf("stats %+v, want 4 written, 2 dropped", st)
	}
	if n := s.Series(); n != 3 {
		t.Errorf("%d series, want 3", n)
	}
	if got := sinkstest.Fetch(t, s, "s.4", 10, 0, math.MaxInt64); len(got) != 0 {
		t.Errorf("the dropped series s.4 has points %v", got)
	}
}

func TestReEmittedBinOverwrites(t *testing.T) {
	clk := sinkstest.NewClock(t0 + 30)
	s := openStore(t, DefaultConfig(), clk, "10s:1h")
	s.Write([]sinks.Point{sinkstest.Point("x", 10, t0, 1), sinkstest.Point("x", 10, t0+10, 5)})
	late := sinks.Point{Path: "x", Resolution: 10, Start: t0, Count: 3, Sum: 6, Min: 1, Max: 3, Last: 2}
	s.Write([]sinks.Point{late})
	got := sinkstest.Fetch(t, s, "x", 10, t0, t0+20)
	if len(got) != 2 || got[0] != late || got[1].Sum != 5 {
		t.Errorf("after re-emitting %d: %+v, want %+v then the bin at %d", t0, got, late, t0+10)
	}
	if st := s.Stats(); st.Written != 3 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 3 written", st)
	}
}

func TestWriteDropsWhatCannotBeStored(t *testing.T) {
	clk := sinkstest.NewClock(t0 + 3600)
	s := openStore(t, DefaultConfig(), clk, "10s:1h")
	for _, p := range []sinks.Point{
		sinkstest.Point("", 10, t0+3600, 1),  // no path
		sinkstest.Point("a", 10, t0+3605, 1), // start not on a bin
		sinkstest.Point("a", 60, t0+3600, 1), // resolution not kept
		sinkstest.Point("a", 10, t0-10, 1),   // past its retention
		{Path: "a", Resolution: -10},         // negative resolution
	} {
		before := s.Stats().Dropped
		s.Write([]sinks.Point{p})
		if s.Stats().Dropped != before+1 {
			t.Errorf("point %+v was not dropped and counted", p)
		}
	}
	if n := s.Series(); n != 0 {
		t.Errorf("%d series after only bad points, want 0", n)
	}
}

func TestFetchWindow(t *testing.T) {
	clk := sinkstest.NewClock(t0 + 100)
	s := openStore(t, DefaultConfig(), clk, "10s:1h", "1m:1d")
	var in []sinks.Point
	for i := int64(9); i >= 0; i-- { // newest first: order of writing must not matter
		in = append(in, sinkstest.Point("m", 10, t0+10*i, float64(i)))
	}
	in = append(in, sinkstest.Point("m", 60, t0, 42))
	s.Write(in)
	for _, tc := range []struct {
		from, until int64
		want        []int64
	}{
		{t0, t0 + 30, []int64{t0, t0 + 10, t0 + 20}},
		{t0 + 5, t0 + 30, []int64{t0 + 10, t0 + 20}},
		{t0 + 90, t0 + 1000, []int64{t0 + 90}},
		{t0 + 30, t0 + 30, nil},
		{t0 + 40, t0, nil},
	} {
		if got := sinkstest.Starts(sinkstest.Fetch(t, s, "m", 10, tc.from, tc.until)); !slices.Equal(got, tc.want) {
			t.Errorf("Fetch(m, 10, %d, %d): starts %v, want %v", tc.from-t0, tc.until-t0, got, tc.want)
		}
	}
	if got := sinkstest.Fetch(t, s, "m", 60, 0, math.MaxInt64); len(got) != 1 || got[0].Sum != 42 || got[0].Path != "m" {
		t.Errorf("Fetch at 60s: %+v, want the one bin of 42", got)
	}
	if got := sinkstest.Fetch(t, s, "nope", 10, 0, math.MaxInt64); len(got) != 0 {
		t.Errorf("Fetch of an unknown path: %+v, want none", got)
	}
	if _, err := s.Fetch(context.Background(), "m", 30, 0, math.MaxInt64); err == nil || !strings.Contains(err.Error(), "30s") {
		t.Errorf("Fetch at a resolution not kept: err %v, want one naming 30s", err)
	}
}

func TestFindLeafAndBranch(t *testing.T) {
	clk := sinkstest.NewClock(t0)
	s := openStore(t, DefaultConfig(), clk, "10s:1h")
	paths := []string{"a.b", "a.b.c", "a.d", "a.bb.c", "x.y.z", "x.yy", "w"}
	for _, p := range paths {
		s.Write([]sinks.Point{sinkstest.Point(p, 10, t0, 1)})
	}
	n := func(path string, leaf, branch bool) sinks.Node {
		return sinks.Node{Path: path, Leaf: leaf, Branch: branch}
	}
	for _, tc := range []struct {
		pattern string
		want    []sinks.Node
	}{
		{"a.b", []sinks.Node{n("a.b", true, true)}},
		{"a.*", []sinks.Node{n("a.b", true, true), n("a.bb", false, true), n("a.d", true, false)}},
		{"*", []sinks.Node{n("a", false, true), n("w", true, false), n("x", false, true)}},
		{"a.b*.c", []sinks.Node{n("a.b.c", true, false), n("a.bb.c", true, false)}},
		{"{a,a}.{b,d}", []sinks.Node{n("a.b", true, true), n("a.d", true, false)}},
		{"{a.b,a.*}", []sinks.Node{n("a.b", true, true), n("a.bb", false, true), n("a.d", true, false)}},
		{"x.y?", []sinks.Node{n("x.yy", true, false)}},
		{"[a-c].[!b]", []sinks.Node{n("a.d", true, false)}},
		{"a.b.c.d", nil},
		{"nope.*", nil},
	} {
		got := sinkstest.Find(t, s, tc.pattern)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Find(%q) = %+v, want %+v", tc.pattern, got, tc.want)
		}
		g, _ := sinks.CompileGlob(tc.pattern)
		if ref := g.Nodes(slices.Values(paths)); !slices.Equal(got, ref) {
			t.Errorf("Find(%q) = %+v, but Glob.Nodes over every path gives %+v", tc.pattern, got, ref)
		}
	}
}

func TestRetentionExpiry(t *testing.T) {
	clk := sinkstest.NewClock(t0)
	s := openStore(t, Config{MaxSeries: 1, MaxPoints: 1 << 30}, clk, "10s:60s")
	s.Write([]sinks.Point{sinkstest.Point("old.one", 10, t0, 1), sinkstest.Point("old.one", 10, t0+30, 2)})
	clk.Set(t0 + 60) // t0's bin ended 50 s ago: kept; [t0+30, t0+40) too
	if got := sinkstest.Starts(sinkstest.Fetch(t, s, "old.one", 10, 0, math.MaxInt64)); !slices.Equal(got, []int64{t0, t0 + 30}) {
		t.Fatalf("at +60s: starts %v, want both bins", got)
	}
	clk.Set(t0 + 70) // t0's bin ended 60 s ago: gone
	if got := sinkstest.Starts(sinkstest.Fetch(t, s, "old.one", 10, 0, math.MaxInt64)); !slices.Equal(got, []int64{t0 + 30}) {
		t.Fatalf("at +70s: starts %v, want only %d", got, t0+30)
	}
	s.Write([]sinks.Point{sinkstest.Point("old.one", 10, t0, 9)}) // re-emitting an expired bin
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("writing an expired bin: stats %+v, want it dropped", st)
	}
	clk.Set(t0 + 100)
	if got := sinkstest.Fetch(t, s, "old.one", 10, 0, math.MaxInt64); len(got) != 0 {
		t.Fatalf("at +100s: %+v, want nothing", got)
	}
	s.Write([]sinks.Point{sinkstest.Point("new.one", 10, t0+100, 1)}) // max_series 1: no room yet
	s.sweep()
	if n, nodes := s.Series(), sinkstest.Find(t, s, "*"); n != 0 || len(nodes) != 0 {
		t.Fatalf("after the sweep: %d series, Find(*) = %+v; want none", n, nodes)
	}
	s.Write([]sinks.Point{sinkstest.Point("new.one", 10, t0+100, 1)}) // room again
	if got := sinkstest.Find(t, s, "*.*"); len(got) != 1 || got[0].Path != "new.one" {
		t.Errorf("after the sweep a new series was not taken: Find = %+v", got)
	}
}

func TestWriteAfterCloseIsDropped(t *testing.T) {
	clk := sinkstest.NewClock(t0)
	s := openStore(t, DefaultConfig(), clk, "10s:1h")
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Write([]sinks.Point{sinkstest.Point("a", 10, t0, 1)})
	if st := s.Stats(); st.Dropped != 1 || st.Written != 0 {
		t.Errorf("stats %+v, want the write after Close dropped", st)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriteAllocatesNothingForKnownSeries(t *testing.T) {
	clk := sinkstest.NewClock(t0)
	s := openStore(t, DefaultConfig(), clk, "10s:2m", "1m:10m")
	batch := make([]sinks.Point, 0, 200)
	for i := range 100 {
		p := fmt.Sprintf("host%d.cpu", i)
		batch = append(batch, sinkstest.Point(p, 10, t0, 1), sinkstest.Point(p, 60, t0, 1))
	}
	start := int64(t0)
	next := func() {
		start += 10
		for i := range batch {
			batch[i].Start = start - start%batch[i].Resolution
		}
		clk.Set(start)
		s.Write(batch)
	}
	for range 120 { // creates the series and grows their rings to their bound
		next()
	}
	if allocs := testing.AllocsPerRun(100, next); allocs != 0 {
		t.Errorf("Write of 200 points of known series: %.1f allocations a call, want 0", allocs)
	}
	if st := s.Stats(); st.Dropped != 0 {
		t.Errorf("stats %+v, want nothing dropped", st)
	}
}

func TestConcurrentWriteFetchFind(t *testing.T) {
	clk := sinkstest.NewClock(t0 + 3600)
	s := openStore(t, Config{MaxSeries: 1000, MaxPoints: 1 << 30}, clk, "10s:1h", "1m:1d")
	var wg sync.WaitGroup
	const writers, rounds = 4, 200
	for w := range writers {
		wg.Go(func() {
			for r := range int64(rounds) {
				var batch []sinks.Point
				for i := range 50 {
					batch = append(batch, sinkstest.Point(fmt.Sprintf("w%d.m%d", w, i), 10, t0+10*(r%360), float64(r)))
				}
				s.Write(batch)
			}
		})
	}
	errs := make(chan error, 2)
	wg.Go(func() { // reader: points come back ascending and in the window
		for range rounds {
			got, err := s.Fetch(context.Background(), "w0.m1", 10, t0, t0+3600)
			if err == nil && !slices.IsSortedFunc(got, func(a, b sinks.Point) int { return int(a.Start - b.Start) }) {
				err = fmt.Errorf("Fetch returned starts out of order: %v", sinkstest.Starts(got))
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() { // finder: one node per path, sorted
		g, _ := sinks.CompileGlob("w*.*")
		for range rounds {
			got, err := s.Find(context.Background(), g)
			if err == nil && !slices.IsSortedFunc(got, func(a, b sinks.Node) int { return strings.Compare(a.Path, b.Path) }) {
				err = fmt.Errorf("Find returned nodes out of order")
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(s.sweep)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(sinkstest.Find(t, s, "w*.*")); n != writers*50 {
		t.Errorf("Find(w*.*) found %d series, want %d", n, writers*50)
	}
	if st := s.Stats(); st.Written != writers*rounds*50 || st.Dropped != 0 {
		t.Errorf("stats %+v, want %d written", st, writers*rounds*50)
	}
}

// max_points bounds the bins over all series: a point that would add one
// beyond it is dropped and counted; bins held are still overwritten, and
// the sweep of expired bins makes room again.
func TestMaxPointsBoundsTheStore(t *testing.T) {
	clk := sinkstest.NewClock(t0 + 60)
	s := openStore(t, Config{MaxSeries: 100, MaxPoints: 5}, clk, "10s:1h")
	var pts []sinks.Point
	for i := range int64(4) {
		pts = append(pts, sinkstest.Point(fmt.Sprintf("a%d", i), 10, t0, 1), sinkstest.Point(fmt.Sprintf("a%d", i), 10, t0+10, 1))
	}
	s.Write(pts) // 8 bins offered, 5 fit
	if st := s.Stats(); st.Written != 5 || st.Dropped != 3 {
		t.Fatalf("stats %+v, want 5 written and 3 dropped at max_points 5", st)
	}
	s.Write([]sinks.Point{sinkstest.Point("a0", 10, t0, 9)}) // an overwrite needs no room
	if got := sinkstest.Fetch(t, s, "a0", 10, t0, t0+10); len(got) != 1 || got[0].Sum != 9 {
		t.Fatalf("the held bin was not overwritten at the bound: %+v", got)
	}
	clk.Set(t0 + 3600 + 15) // t0's bins leave the retention
	s.sweep()               // (every minute in a running store)
	s.Write([]sinks.Point{sinkstest.Point("b", 10, t0+3600, 1)})
	if st := s.Stats(); st.Dropped != 3 {
		t.Fatalf("stats %+v: expired bins did not make room", st)
	}
}
