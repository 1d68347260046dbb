package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"ringrelay/config"
	"ringrelay/internal/mariadbtest"
	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// t0 is the tests' "now": a multiple of every resolution.
const t0 = 1_800_000_000

var testRets = []sinks.Retention{
	{Resolution: 10 * time.Second, Retention: time.Hour},
	{Resolution: time.Minute, Retention: 24 * time.Hour},
}

func clockAt(sec int64) func() time.Time { return func() time.Time { return time.Unix(sec, 0) } }

func testQueue() sinks.AsyncConfig {
	return sinks.AsyncConfig{QueuePoints: 100_000, BatchPoints: 500, Timeout: 5 * time.Second, Retries: 2, RetryWait: 10 * time.Millisecond}
}

// openTest opens a sink on dsn with the clock at t0, closed when the test ends.
func openTest(t testing.TB, dsn string, q sinks.AsyncConfig) *Sink {
	t.Helper()
	c := DefaultConfig()
	c.DSN = dsn
	s, err := open("test", c, testRets, q, zaptest.NewLogger(t), clockAt(t0))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not a wait for time
	}
}

// waitWritten waits until the sink has written n points in all.
func waitWritten(t testing.TB, s *Sink, n uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d points are written", n), func() bool { return s.Stats().Written >= n })
}

// countRows counts the rows of from ("table [WHERE ...]").
func countRows(t *testing.T, dsn, from string) int {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + from).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}

// TestOpenTwice: a second Open finds the tables and the data in place.
func TestOpenTwice(t *testing.T) {
	dsn := mariadbtest.Shared(t)
	s1 := openTest(t, dsn, testQueue())
	s1.Write([]sinks.Point{sinkstest.Point("a.b", 10, t0-10, 1)})
	waitWritten(t, s1, 1)
	if err := s1.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := openTest(t, dsn, testQueue())
	if got := sinkstest.Fetch(t, s2, "a.b", 10, 0, t0); len(got) != 1 || got[0].Sum != 1 {
		t.Fatalf("after a second Open, Fetch = %+v; want the point written before", got)
	}
	s2.Write([]sinks.Point{sinkstest.Point("a.b", 10, t0-20, 2), sinkstest.Point("a.c", 10, t0-10, 3)})
	waitWritten(t, s2, 2)
	if n := countRows(t, dsn, "ringrelay_paths"); n != 3 {
		t.Fatalf("%d rows in ringrelay_paths, want 3 (a, a.b once, a.c)", n)
	}
	if n := countRows(t, dsn, "ringrelay_points"); n != 3 {
		t.Fatalf("%d rows in ringrelay_points, want 3", n)
	}
}

// TestUpsertOverwrites: a bin written again replaces its row, in a later
// batch and within one batch (the later point wins).
func TestUpsertOverwrites(t *testing.T) {
	s := openTest(t, mariadbtest.Shared(t), testQueue())
	s.Write([]sinks.Point{sinkstest.Point("x.y", 10, t0-10, 1), sinkstest.Point("x.y", 10, t0-20, 5)})
	waitWritten(t, s, 2)
	late := sinks.Point{Path: "x.y", Resolution: 10, Start: t0 - 10, Count: 3, Sum: 6, Min: 1, Max: 3, Last: 2}
	s.Write([]sinks.Point{late})
	waitWritten(t, s, 3)
	got := sinkstest.Fetch(t, s, "x.y", 10, t0-20, t0)
	if len(got) != 2 || got[1] != late {
		t.Fatalf("after the re-emitted bin, Fetch = %+v; want its second point %+v", got, late)
	}
	s.Write([]sinks.Point{sinkstest.Point("x.y", 10, t0-20, 7), sinkstest.Point("x.y", 10, t0-20, 8)})
	waitWritten(t, s, 5)
	if got := sinkstest.Fetch(t, s, "x.y", 10, t0-20, t0-10); len(got) != 1 || got[0].Last != 8 {
		t.Fatalf("two points of one bin in a batch: Fetch = %+v; want the later (8)", got)
	}
}

// findPaths are the stored paths TestFind searches; "a.b_c" and "a.bxc"
// check that '_' is not a LIKE wildcard.
var findPaths = []string{
	"a.b.c", "a.b.c.d", "a.b.e", "a.x.y", "a.b_c.z", "a.bxc.z", "b.c", "b.c2.q", "caf\u00e9.latte", "top",
}

func TestFind(t *testing.T) {
	s := openTest(t, mariadbtest.Shared(t), testQueue())
	var pts []sinks.Point
	for _, p := range findPaths {
		if p != "a.b.c" {
			pts = append(pts, sinkstest.Point(p, 60, t0-60, 1))
		}
	}
	s.Write(pts)
	waitWritten(t, s, uint64(len(pts)))
	// A branch ("a.b.c", above "a.b.c.d") becomes a series too.
	s.Write([]sinks.Point{sinkstest.Point("a.b.c", 60, t0-60, 1)})
	waitWritten(t, s, uint64(len(pts))+1)

	for _, tc := range []struct {
		pattern string
		want    string // "path:LB" per node; L leaf, B branch
	}{
		{"a.b.*", "a.b.c:LB a.b.e:L"},
		{"a.b.c", "a.b.c:LB"},
		{"a.b.c.d", "a.b.c.d:L"},
		{"a.*", "a.b:B a.b_c:B a.bxc:B a.x:B"},
		{"a.b_c.*", "a.b_c.z:L"},
		{"a.{b,x}.*", "a.b.c:LB a.b.e:L a.x.y:L"},
		{"{a.b,b}.c", "a.b.c:LB b.c:L"},
		{"{a.b,b}.c*", "a.b.c:LB b.c:L b.c2:B"},
		{"*", "a:B b:B caf\u00e9:B top:L"},
		{"caf*.*", "caf\u00e9.latte:L"},
		{"a.b[!_]c.*", "a.bxc.z:L"},
		{"a.[bx]*.[yz]", "a.b_c.z:L a.bxc.z:L a.x.y:L"},
		{"nope.*", ""},
		{"a.b.c.d.e", ""},
	} {
		g, err := sinks.CompileGlob(tc.pattern)
		if err != nil {
			t.Fatalf("CompileGlob(%q): %v", tc.pattern, err)
		}
		got, err := s.Find(context.Background(), g)
		if err != nil {
			t.Fatalf("Find(%q): %v", tc.pattern, err)
		}
		if fmtNodes(got) != tc.want {
			t.Errorf("Find(%q) = %q, want %q", tc.pattern, fmtNodes(got), tc.want)
		}
		// The root package's Nodes over the same paths is the reference.
		if want := fmtNodes(g.Nodes(slices.Values(findPaths))); fmtNodes(got) != want {
			t.Errorf("Find(%q) = %q, but Glob.Nodes says %q", tc.pattern, fmtNodes(got), want)
		}
	}
}

func fmtNodes(ns []sinks.Node) string {
	var out []string
	for _, n := range ns {
		f := ""
		if n.Leaf {
			f += "L"
		}
		if n.Branch {
			f += "B"
		}
		out = append(out, n.Path+":"+f)
	}
	return strings.Join(out, " ")
}

// TestFetchBounds: from <= start < until, ascending, one resolution.
func TestFetchBounds(t *testing.T) {
	s := openTest(t, mariadbtest.Shared(t), testQueue())
	var pts []sinks.Point
	for i := int64(5); i >= 1; i-- { // written newest first
		pts = append(pts, sinkstest.Point("m", 10, t0-10*i, float64(i)))
	}
	pts = append(pts, sinkstest.Point("m", 60, t0-60, 9), sinkstest.Point("n", 10, t0-30, 9))
	s.Write(pts)
	waitWritten(t, s, uint64(len(pts)))
	for _, tc := range []struct {
		res, from, until int64
		want             []int64
	}{
		{10, t0 - 40, t0 - 10, []int64{t0 - 40, t0 - 30, t0 - 20}},
		{10, t0 - 39, t0 - 20, []int64{t0 - 30}},
		{10, 0, t0 + 100, []int64{t0 - 50, t0 - 40, t0 - 30, t0 - 20, t0 - 10}},
		{10, t0 - 10, t0 - 10, []int64{}},
		{60, 0, t0, []int64{t0 - 60}},
	} {
		got := sinkstest.Starts(sinkstest.Fetch(t, s, "m", tc.res, tc.from, tc.until))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Fetch(m, %d, %d, %d) starts = %v, want %v", tc.res, tc.from-t0, tc.until-t0, offsets(got), offsets(tc.want))
		}
	}
	if got := sinkstest.Fetch(t, s, "no.such.path", 10, 0, t0); len(got) != 0 {
		t.Errorf("Fetch of an unknown path = %+v, want none", got)
	}
	if _, err := s.Fetch(context.Background(), "m", 7, 0, t0); err == nil || !strings.Contains(err.Error(), "resolution 7s") {
		t.Errorf("Fetch at resolution 7 = %v, want an error naming it", err)
	}
}

// offsets shows starts relative to t0, for readable failures.
func offsets(ss []int64) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i] = s - t0
	}
	return out
}

// TestWriteDropsWhatCannotBeStored: each bad point is counted, the good
// ones in the same call are written.
func TestWriteDropsWhatCannotBeStored(t *testing.T) {
	s := openTest(t, mariadbtest.Shared(t), testQueue())
	bad := []sinks.Point{
		sinkstest.Point("res.unknown", 30, t0-30, 1),
		sinkstest.Point("too.old", 10, t0-3600-10, 1),
		sinkstest.Point(strings.Repeat("x", maxPathLen+1), 10, t0-10, 1),
		sinkstest.Point("bad.\xff", 10, t0-10, 1),
		sinkstest.Point("nan", 10, t0-10, math.NaN()),
		sinkstest.Point("inf", 60, t0-60, math.Inf(1)),
		sinkstest.Point("unaligned", 10, t0-5, 1),
		sinkstest.Point("", 10, t0-10, 1),
	}
	// The longest path, of 4-byte characters, fits the primary key.
	longest := strings.Repeat("\U0001F600", maxPathLen)
	s.Write(append([]sinks.Point{sinkstest.Point("good", 10, t0-10, 1), sinkstest.Point(longest, 10, t0-10, 1)}, bad...))
	waitWritten(t, s, 2)
	st := s.Stats()
	if st.Dropped != uint64(len(bad)) || st.Written != 2 || st.Errors != 0 {
		t.Fatalf("stats %+v, want %d dropped, 2 written, no errors", st, len(bad))
	}
	for _, p := range []string{"good", longest} {
		if got := sinkstest.Fetch(t, s, p, 10, 0, t0); len(got) != 1 {
			t.Fatalf("Fetch(%.20q...) = %+v, want its point", p, got)
		}
	}
}

// TestRetention: deleteExpired removes each resolution's rows older than
// its retention, and Fetch hides them before that.
func TestRetention(t *testing.T) {
	dsn := mariadbtest.Shared(t)
	s := openTest(t, dsn, testQueue())
	pts := []sinks.Point{
		sinkstest.Point("r", 10, t0-3600, 1), // oldest kept at t0 (1h)
		sinkstest.Point("r", 10, t0-1800, 2),
		sinkstest.Point("r", 10, t0-10, 3),
		sinkstest.Point("r", 60, t0-86400, 4), // oldest kept at t0 (24h)
		sinkstest.Point("r", 60, t0-60, 5),
	}
	s.Write(pts)
	waitWritten(t, s, uint64(len(pts)))

	n, err := s.store.deleteExpired(context.Background(), time.Unix(t0, 0))
	if err != nil || n != 0 {
		t.Fatalf("deleteExpired at t0 = %d, %v; want nothing deleted", n, err)
	}
	later := time.Unix(t0+1800, 0) // 10s rows before t0-1800 and 60s rows before t0-84600 expire
	n, err = s.store.deleteExpired(context.Background(), later)
	if err != nil || n != 2 {
		t.Fatalf("deleteExpired 30 minutes later = %d, %v; want 2 rows deleted", n, err)
	}
	if got := sinkstest.Starts(sinkstest.Fetch(t, s, "r", 10, 0, t0+3600)); !slices.Equal(got, []int64{t0 - 1800, t0 - 10}) {
		t.Errorf("10s points left: %v, want [-1800 -10]", offsets(got))
	}
	if got := sinkstest.Starts(sinkstest.Fetch(t, s, "r", 60, 0, t0+3600)); !slices.Equal(got, []int64{t0 - 60}) {
		t.Errorf("60s points left: %v, want [-60]", offsets(got))
	}
	if n := countRows(t, dsn, "ringrelay_points"); n != 3 {
		t.Errorf("%d rows left in ringrelay_points, want 3", n)
	}

	// Rows past their retention that the job has not deleted yet are
	// not returned.
	s.store.now = clockAt(t0 + 1805)
	if got := sinkstest.Starts(sinkstest.Fetch(t, s, "r", 10, 0, t0+3600)); !slices.Equal(got, []int64{t0 - 10}) {
		t.Errorf("Fetch at t0+1805: %v, want [-10]", offsets(got))
	}
}

// TestRetentionJob: the job runs every retention_interval (1 s here)
// and Close stops it.
func TestRetentionJob(t *testing.T) {
	dsn := mariadbtest.Shared(t)
	var now atomic.Int64
	now.Store(t0)
	c := DefaultConfig()
	c.DSN = dsn
	c.RetentionInterval = config.Duration{Duration: time.Second}
	s, err := open("test", c, testRets, testQueue(), zaptest.NewLogger(t), func() time.Time { return time.Unix(now.Load(), 0) })
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	s.Write([]sinks.Point{sinkstest.Point("job.old", 10, t0-3600, 1), sinkstest.Point("job.new", 10, t0-10, 1)})
	waitWritten(t, s, 2)
	now.Store(t0 + 60) // job.old is now past the hour
	waitFor(t, "the retention job deletes job.old", func() bool { return countRows(t, dsn, "ringrelay_points") == 1 })
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestCloseDrains: Close writes everything queued before it returns.
func TestCloseDrains(t *testing.T) {
	dsn := mariadbtest.Shared(t)
	s := openTest(t, dsn, testQueue())
	const paths, bins = 100, 30
	for i := range bins {
		batch := make([]sinks.Point, 0, paths)
		for p := range paths {
			batch = append(batch, sinkstest.Point(fmt.Sprintf("drain.p%d", p), 10, t0-10*int64(i+1), float64(i)))
		}
		s.Write(batch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := s.Stats(); st.Written != paths*bins || st.Queued != 0 || st.Dropped != 0 {
		t.Fatalf("after Close: stats %+v, want %d written, none queued or dropped", st, paths*bins)
	}
	if n := countRows(t, dsn, "ringrelay_points"); n != paths*bins {
		t.Fatalf("%d rows in ringrelay_points after Close, want %d", n, paths*bins)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	s.Write([]sinks.Point{sinkstest.Point("after.close", 10, t0-10, 1)})
	if st := s.Stats(); st.Dropped != 1 {
		t.Fatalf("Write after Close: stats %+v, want it counted as dropped", st)
	}
}

// TestOpenRefused: a server that answers "no" (no such database) fails
// Open; the error names the sink.
func TestOpenRefused(t *testing.T) {
	dsn := strings.Replace(mariadbtest.Shared(t), ")/t", ")/no_such_db_", 1)
	c := DefaultConfig()
	c.DSN = dsn
	s, err := Open("refused", c, testRets, testQueue(), zaptest.NewLogger(t))
	if err == nil {
		s.Close(context.Background())
		t.Fatalf("Open with DSN %q succeeded, want an error", dsn)
	}
	if !strings.Contains(err.Error(), `sink "refused"`) || !strings.Contains(err.Error(), "no_such_db_") {
		t.Fatalf("Open error %q does not name the sink and the database", err)
	}
}

// TestOpenRefusesBadRetentions: times out of order are refused before
// any connection, naming the sink and the entry.
func TestOpenRefusesBadRetentions(t *testing.T) {
	rets := []sinks.Retention{{Resolution: time.Minute, Retention: time.Hour}, {Resolution: 10 * time.Second, Retention: time.Hour}}
	c := DefaultConfig()
	c.DSN = "u:p@tcp(127.0.0.1:1)/db"
	if _, err := Open("bad", c, rets, testQueue(), zaptest.NewLogger(t)); err == nil ||
		!strings.Contains(err.Error(), `sink "bad": times[1]`) {
		t.Fatalf("Open with times out of order: %v, want the sink and times[1] named", err)
	}
}

// TestDatabaseGoesAway: with the server down (at Open, and later) writes
// never block; failed batches are counted as errors and, after their
// retries, as dropped; when the server is back, writes resume (and the
// tables are created if they could not be at Open).
func TestDatabaseGoesAway(t *testing.T) {
	srv := mariadbtest.Start(t)
	srv.Stop()
	q := sinks.AsyncConfig{QueuePoints: 1000, BatchPoints: 100, Timeout: 2 * time.Second, Retries: 1, RetryWait: 10 * time.Millisecond}
	s := openTest(t, srv.DSN("test"), q) // down at Open: not an error

	writeFast := func(pts []sinks.Point) {
		t.Helper()
		began := time.Now()
		s.Write(pts)
		if d := time.Since(began); d > time.Second {
			t.Fatalf("Write took %s with the database down; it must not wait for it", d)
		}
	}
	writeFast([]sinks.Point{sinkstest.Point("down.at.open", 10, t0-10, 1)})
	waitFor(t, "the batch is dropped after its retries", func() bool { st := s.Stats(); return st.Dropped == 1 && st.Errors == 2 })

	srv.Restart(t)
	writeFast([]sinks.Point{sinkstest.Point("back", 10, t0-10, 1)})
	waitWritten(t, s, 1)
	if got := sinkstest.Fetch(t, s, "back", 10, 0, t0); len(got) != 1 {
		t.Fatalf("after the restart, Fetch(back) = %+v, want its point", got)
	}

	srv.Stop()
	before := s.Stats()
	burst := make([]sinks.Point, 0, 5000)
	for i := range 5000 {
		burst = append(burst, sinkstest.Point(fmt.Sprintf("burst.%d", i), 10, t0-10, 1))
	}
	writeFast(burst) // beyond the queue: the oldest are shed at once
	waitFor(t, "the burst is dropped", func() bool {
		st := s.Stats()
		return st.Queued == 0 && st.Dropped-before.Dropped == 5000
	})
	if st := s.Stats(); st.Errors <= before.Errors || st.Written != before.Written {
		t.Fatalf("with the server stopped: stats %+v (before %+v), want more errors and nothing written", st, before)
	}
	if _, err := s.Fetch(context.Background(), "back", 10, 0, t0); err == nil {
		t.Fatal("Fetch with the server stopped succeeded, want an error")
	}

	srv.Restart(t)
	writeFast([]sinks.Point{sinkstest.Point("back.again", 10, t0-10, 2)})
	waitWritten(t, s, before.Written+1)
	if got := sinkstest.Fetch(t, s, "back.again", 10, 0, t0); len(got) != 1 || got[0].Sum != 2 {
		t.Fatalf("after the second restart, Fetch(back.again) = %+v, want its point", got)
	}
}
