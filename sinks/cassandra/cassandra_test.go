package cassandra

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"ringrelay/internal/cqltest"
	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// These tests run the sink against internal/cqltest, a CQL protocol
// stand-in (no Cassandra can run here); TestRealCassandra is the same
// round trip against a real one.

const (
	ten  = 10 // the fine resolution of testTimes, seconds
	hour = 3600
)

var testTimes = []string{"10s:1h", "60s:24h"}

// env is a sink on a stand-in, with the clock they share.
type env struct {
	srv   *cqltest.Server
	clock *cqltest.Clock
	sink  *Sink
}

// epoch is where test clocks start: a multiple of an hour.
var epoch = time.Unix(1_800_000_000-1_800_000_000%hour, 0)

func testConfig(srv *cqltest.Server) Config {
	c := DefaultConfig()
	c.Hosts = []string{srv.Addr()}
	c.CQLTimeout.Duration = 2 * time.Second
	c.CQLConnectTimeout.Duration = 2 * time.Second
	c.Bucket.Duration = time.Hour
	return c
}

func testQueue() sinks.AsyncConfig {
	return sinks.AsyncConfig{QueuePoints: 100_000, BatchPoints: 500, Timeout: 3 * time.Second, Retries: 100, RetryWait: 20 * time.Millisecond}
}

// newEnv starts a stand-in and opens a sink on it; change edits the
// config first.
func newEnv(t testing.TB, q sinks.AsyncConfig, change func(*Config)) *env {
	t.Helper()
	clock := cqltest.NewClock(epoch)
	srv := cqltest.Start(t, cqltest.Options{Now: clock.Now})
	return openEnv(t, srv, clock, q, change)
}

func openEnv(t testing.TB, srv *cqltest.Server, clock *cqltest.Clock, q sinks.AsyncConfig, change func(*Config)) *env {
	t.Helper()
	c := testConfig(srv)
	if change != nil {
		change(&c)
	}
	rets, err := sinks.ParseTimes(testTimes)
	if err != nil {
		t.Fatal(err)
	}
	s, err := open("test", c, rets, q, zaptest.NewLogger(t), clock.Now)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return &env{srv: srv, clock: clock, sink: s}
}

// point is a 10 s bin of path at start with value v (count 1).
func point(path string, start int64, v float64) sinks.Point {
	return sinkstest.Point(path, ten, start, v)
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitWritten waits until the sink has written n points.
func (e *env) waitWritten(t *testing.T, n uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d points written", n), func() bool { return e.sink.Stats().Written >= n })
	if st := e.sink.Stats(); st.Written != n {
		t.Fatalf("written: got %d, want %d (stats %+v)", st.Written, n, st)
	}
}

func (e *env) fetch(t *testing.T, path string, res, from, until int64) []sinks.Point {
	t.Helper()
	pts, err := e.sink.Fetch(context.Background(), path, res, from, until)
	if err != nil {
		t.Fatalf("fetch %s: %v", path, err)
	}
	return pts
}

func TestSchemaCreated(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	if got := fmt.Sprint(e.srv.Keyspaces(), e.srv.Tables()); got != "[ringrelay] [ringrelay.paths ringrelay.points]" {
		t.Fatalf("schema: got %s", got)
	}
	// A second sink on the same keyspace finds it there.
	openEnv(t, e.srv, e.clock, testQueue(), nil)
}

// TestNoSchemaWhenTold: create_schema = false creates nothing, and writes
// to the missing tables fail and are counted.
func TestNoSchemaWhenTold(t *testing.T) {
	q := testQueue()
	q.Retries = 0
	e := newEnv(t, q, func(c *Config) { c.CreateSchema = false })
	if ks := e.srv.Keyspaces(); len(ks) != 0 {
		t.Fatalf("keyspaces created: %v", ks)
	}
	e.sink.Write([]sinks.Point{point("a.b", epoch.Unix()-ten, 1)})
	waitFor(t, "the write to be dropped", func() bool { return e.sink.Stats().Dropped == 1 })
	if st := e.sink.Stats(); st.Errors != 1 || st.Written != 0 {
		t.Fatalf("stats: got %+v, want 1 error, 0 written", st)
	}
}

// TestWriteAndReadBack: points spanning two buckets come back in order,
// within [from, until); each batch was unlogged and held one partition.
func TestWriteAndReadBack(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	now := epoch.Unix()
	var pts []sinks.Point
	for start := now - 30*ten; start < now+30*ten; start += ten { // across the hour boundary at now
		pts = append(pts, point("servers.web1.cpu", start, float64(start-now)))
	}
	pts = append(pts, point("servers.web2.cpu", now, 42))
	e.sink.Write(pts)
	e.waitWritten(t, uint64(len(pts)))

	got := e.fetch(t, "servers.web1.cpu", ten, now-5*ten, now+5*ten)
	if len(got) != 10 {
		t.Fatalf("fetch: got %d points, want 10: %v", len(got), got)
	}
	for i, p := range got {
		want := point("servers.web1.cpu", now-5*ten+int64(i)*ten, float64(i*ten-5*ten))
		if p != want {
			t.Errorf("point %d: got %+v, want %+v", i, p, want)
		}
	}
	if got := e.fetch(t, "servers.web2.cpu", ten, now, now+ten); len(got) != 1 || got[0].Sum != 42 {
		t.Errorf("web2: got %v", got)
	}
	if got := e.fetch(t, "servers.web2.cpu", 60, now-hour, now+hour); len(got) != 0 {
		t.Errorf("other resolution: got %v, want nothing", got)
	}
	if _, err := e.sink.Fetch(context.Background(), "servers.web2.cpu", 5, now, now+ten); err == nil {
		t.Error("fetch at a resolution the sink does not keep: no error")
	}
	for _, b := range e.srv.Batches() {
		if b.Type != "UNLOGGED" || b.Partitions != 1 || b.Statements > maxBatchRows {
			t.Errorf("batch %+v: want UNLOGGED, one partition, at most %d rows", b, maxBatchRows)
		}
	}
}

// TestOverwrite: a bin written again replaces its row, also when one
// Write holds it twice (the later wins).
func TestOverwrite(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	now := epoch.Unix()
	e.sink.Write([]sinks.Point{point("a.b", now, 1)})
	e.waitWritten(t, 1)
	e.sink.Write([]sinks.Point{point("a.b", now, 5), point("a.b", now, 2)})
	e.waitWritten(t, 3)
	got := e.fetch(t, "a.b", ten, now, now+ten)
	if len(got) != 1 || got[0] != point("a.b", now, 2) {
		t.Fatalf("got %+v, want the one point with value 2", got)
	}
	if n := e.srv.Rows("ringrelay.points"); n != 1 {
		t.Errorf("rows: got %d, want 1", n)
	}
}

// TestTTLAndRejects: a row lives until its bin leaves the retention (the
// stand-in's clock decides); points the sink cannot keep are dropped and
// counted.
func TestTTLAndRejects(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	now := epoch.Unix()
	e.sink.Write([]sinks.Point{
		point("a.b", now-ten, 1),                 // kept for 1h from its start
		point("a.old", now-hour, 1),              // already out of the retention
		{Path: "a.c", Resolution: 5, Start: now}, // not one of the times
		point("a..c", now, 1),                    // empty segment
		point("a.\xff", now, 1),                  // not UTF-8
	})
	e.waitWritten(t, 1)
	if st := e.sink.Stats(); st.Dropped != 4 {
		t.Fatalf("dropped: got %d, want 4", st.Dropped)
	}
	e.clock.Advance((hour - ten - 1) * time.Second)
	if got := e.fetch(t, "a.b", ten, now-hour, now); len(got) != 1 {
		t.Fatalf("a second before expiry: got %v, want the point", got)
	}
	e.clock.Advance(time.Second)
	if n := e.srv.Rows("ringrelay.points"); n != 0 {
		t.Fatalf("after the retention: %d rows left, want 0", n)
	}
}

// TestFind: finds give what Glob.Nodes gives over the stored paths, and
// walk the tree: "servers.web1.*" makes three reads (the rows "servers"
// and "web1", the partition "servers.web1") however many other paths
// there are.
func TestFind(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	paths := []string{"servers.web1.cpu", "servers.web1.mem", "servers.web1", "servers.web2.cpu", "servers.db1.disk.sda", "x.y"}
	for i := range 50 {
		paths = append(paths, fmt.Sprintf("other%d.m", i))
	}
	var pts []sinks.Point
	for _, p := range paths {
		pts = append(pts, point(p, epoch.Unix(), 1))
	}
	e.sink.Write(pts)
	e.waitWritten(t, uint64(len(pts)))

	for _, pattern := range []string{
		"*", "servers.*", "servers.web1.*", "servers.web1", "servers.web?.cpu", "servers.{web1,db1}.*",
		"servers.[a-d]*.*.*", "*.web1", "x.y", "x.y.z", "nope.*", "other1[0-2].m", "servers.web1.{cpu,nope}",
	} {
		g, err := sinks.CompileGlob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.sink.Find(context.Background(), g)
		if err != nil {
			t.Fatalf("find %q: %v", pattern, err)
		}
		if want := g.Nodes(slices.Values(paths)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("find %q: got %v, want %v", pattern, got, want)
		}
	}

	before := e.srv.Stats().Executes
	g, _ := sinks.CompileGlob("servers.web1.*")
	if _, err := e.sink.Find(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if reads := e.srv.Stats().Executes - before; reads != 3 {
		t.Errorf("find servers.web1.*: %d reads, want 3", reads)
	}
}

// TestIndexWrittenOncePerRefresh: a path's index rows are not written
// again with every point, only when due.
func TestIndexWrittenOncePerRefresh(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	now := epoch.Unix()
	e.sink.Write([]sinks.Point{point("a.b.c", now, 1)})
	e.waitWritten(t, 1)
	rows := e.srv.Stats().RowsWritten // 1 point + 3 index rows
	e.sink.Write([]sinks.Point{point("a.b.c", now+ten, 1)})
	e.waitWritten(t, 2)
	if got := e.srv.Stats().RowsWritten - rows; got != 1 {
		t.Errorf("second write: %d rows written, want 1 (no index rows)", got)
	}
	if rows != 4 {
		t.Errorf("first write: %d rows written, want 4 (the point and 3 index rows)", rows)
	}
}

// TestShedsWhenCassandraIsSlow: with writes held up, Write does not wait
// and the queue sheds its oldest points, counted; every point ends up
// written or dropped.
func TestShedsWhenCassandraIsSlow(t *testing.T) {
	q := testQueue()
	q.QueuePoints, q.BatchPoints = 20, 5
	e := newEnv(t, q, nil)
	e.srv.SetWriteDelay(time.Second)
	const n = 200
	start := time.Now()
	for i := range n {
		e.sink.Write([]sinks.Point{point(fmt.Sprintf("m%d", i), epoch.Unix(), 1)})
	}
	if d := time.Since(start); d > 500*time.Millisecond { // blocking would take seconds
		t.Errorf("%d writes took %v: Write must not wait for Cassandra", n, d)
	}
	if st := e.sink.Stats(); st.Dropped < uint64(n-q.QueuePoints-q.BatchPoints) || st.Queued > q.QueuePoints {
		t.Errorf("stats after the burst: %+v, want >= %d dropped, <= %d queued", st, n-q.QueuePoints-q.BatchPoints, q.QueuePoints)
	}
	e.srv.SetWriteDelay(0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.sink.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if st := e.sink.Stats(); st.Written+st.Dropped != n || st.Queued != 0 {
		t.Errorf("after close: %+v, want written + dropped = %d", st, n)
	}
}

// TestFailedWritesCounted: write timeouts are errors, retried, then the
// batch is dropped and counted.
func TestFailedWritesCounted(t *testing.T) {
	q := testQueue()
	q.Retries = 2
	e := newEnv(t, q, nil)
	e.srv.SetFailWrites(true)
	e.sink.Write([]sinks.Point{point("a.b", epoch.Unix(), 1), point("a.c", epoch.Unix(), 1)})
	waitFor(t, "the batch to be dropped", func() bool { return e.sink.Stats().Dropped == 2 })
	if st := e.sink.Stats(); st.Errors != 3 || st.Written != 0 {
		t.Errorf("stats: %+v, want 3 errors (1 + 2 retries), 0 written", st)
	}
}

// TestReconnectAfterRestart: points written while Cassandra is down are
// retried and land once it is back; reads work again.
func TestReconnectAfterRestart(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	now := epoch.Unix()
	e.sink.Write([]sinks.Point{point("a.b", now, 1)})
	e.waitWritten(t, 1)
	e.srv.Stop()
	e.sink.Write([]sinks.Point{point("a.b", now+ten, 2)})
	waitFor(t, "a failed write", func() bool { return e.sink.Stats().Errors > 0 })
	if err := e.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitWritten(t, 2)
	if got := e.fetch(t, "a.b", ten, now, now+2*ten); len(got) != 2 {
		t.Fatalf("after the restart: got %v, want 2 points", got)
	}
}

// TestSessionResetWhenNoHosts: a session that has found no host to write
// to for resetAfter is closed and the next write connects anew, so a
// client that gocql left with an empty pool (its issues #915, #1614)
// recovers; the points queued meanwhile land.
func TestSessionResetWhenNoHosts(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	st := e.sink.store
	st.mu.Lock()
	st.resetAfter = 100 * time.Millisecond
	st.mu.Unlock()
	now := epoch.Unix()
	e.sink.Write([]sinks.Point{point("a.b", now, 1)})
	e.waitWritten(t, 1)
	e.srv.Stop()
	e.sink.Write([]sinks.Point{point("a.b", now+ten, 2)})
	waitFor(t, "the session to be reset", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.resets > 0
	})
	if err := e.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitWritten(t, 2)
	if got := e.fetch(t, "a.b", ten, now, now+2*ten); len(got) != 2 {
		t.Fatalf("after the reset: got %v, want 2 points", got)
	}
}

// TestOpenRefusesBadRetentions: times out of order are refused before
// any connection, naming the sink and the entry.
func TestOpenRefusesBadRetentions(t *testing.T) {
	rets := []sinks.Retention{{Resolution: time.Minute, Retention: time.Hour}, {Resolution: 10 * time.Second, Retention: time.Hour}}
	c := DefaultConfig()
	c.Hosts = []string{"127.0.0.1:1"}
	if _, err := Open("bad", c, rets, testQueue(), zaptest.NewLogger(t)); err == nil ||
		!strings.Contains(err.Error(), `sink "bad": times[1]`) {
		t.Fatalf("Open with times out of order: %v, want the sink and times[1] named", err)
	}
}

// TestCassandraDownAtOpen: Open succeeds without Cassandra; the sink
// connects and creates the schema when it comes up.
func TestCassandraDownAtOpen(t *testing.T) {
	clock := cqltest.NewClock(epoch)
	srv := cqltest.Start(t, cqltest.Options{Now: clock.Now})
	srv.Stop()
	e := openEnv(t, srv, clock, testQueue(), nil)
	e.sink.Write([]sinks.Point{point("a.b", epoch.Unix(), 1)})
	waitFor(t, "a failed write", func() bool { return e.sink.Stats().Errors > 0 })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitWritten(t, 1)
	if got := fmt.Sprint(srv.Tables()); got != "[ringrelay.paths ringrelay.points]" {
		t.Errorf("tables: got %s", got)
	}
}

// TestClosedSinkRefusesReads: after Close, reads fail with a clear error
// and writes are counted as dropped.
func TestClosedSinkRefusesReads(t *testing.T) {
	e := newEnv(t, testQueue(), nil)
	if err := e.sink.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.sink.Close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := e.sink.Fetch(context.Background(), "a.b", ten, 0, epoch.Unix()); err == nil {
		t.Error("fetch after close: no error")
	}
	e.sink.Write([]sinks.Point{point("a.b", epoch.Unix(), 1)})
	if st := e.sink.Stats(); st.Dropped != 1 {
		t.Errorf("write after close: %+v, want 1 dropped", st)
	}
}
