// Package cassandra is the Cassandra sink: it stores flushed bins with
// gocql, one row per (path, resolution, bin start), and reads them back
// for the Graphite read API (it is a sinks.Reader).
//
// Writes go through a sinks.Async queue: Write never waits for Cassandra;
// when Cassandra falls behind the queue sheds its oldest points and counts
// them. The writer goroutine groups a batch's points by partition and
// sends one unlogged batch per partition (at most 50 rows each, 32
// batches in flight at once); a failed batch is retried, then dropped
// and counted. gocql keeps reconnecting to nodes that went away (its
// control connection within seconds, other pools every 2 s), so writes
// resume when Cassandra is back. A Cassandra that cannot be reached at
// Open is not an error: the sink connects (and creates the schema) at
// the first write or read that finds it up; meanwhile writes fail and are
// counted.
//
// Schema (created if missing unless create_schema = false; keyspace
// "ringrelay" by default, with the replication of the config):
//
//	CREATE KEYSPACE IF NOT EXISTS ringrelay
//	  WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
//	CREATE TABLE IF NOT EXISTS ringrelay.points (
//	  path text, resolution int, bucket bigint, start bigint,
//	  count bigint, sum double, min double, max double, last double,
//	  PRIMARY KEY ((path, resolution, bucket), start)
//	) WITH CLUSTERING ORDER BY (start ASC);
//	CREATE TABLE IF NOT EXISTS ringrelay.paths (
//	  parent text, name text, leaf boolean, branch boolean,
//	  PRIMARY KEY (parent, name)
//	);
//
// points: resolution in seconds; start is the bin's start and bucket the
// start of its partition's time span (start - start % bucket, unix
// seconds); a series' partition thus holds bucket/resolution rows at most
// (8,640 for 10 s bins in a day). Each INSERT carries USING TTL the time
// left in its resolution's retention (start + retention - now), so a row
// expires when it leaves the retention, and re-emitted bins overwrite.
// Fetch reads one partition per bucket the range spans.
//
// paths is the tree of path segments for find: one row per node under its
// parent ("a.b.c" writes (".", "a", branch), ("a", "b", branch) and
// ("a.b", "c", leaf); "." is the root, as Cassandra refuses an empty
// partition key). A find walks the tree from the root, level by level: a
// literal segment reads one row, a wildcard the matching parents'
// partitions; "a.b.*" reads the row "a" under the root, the row "b" under
// "a" and the partition "a.b", never the whole tree. A node's rows carry
// a TTL of the longest retention plus a day (at most 20 years), and the
// sink writes them again at most once a day (or twice per retention, if
// that is shorter) while the path gets points, remembering what it wrote
// in memory (up to 1 M rows, then it starts afresh). So a path that stops
// getting points is listed by find until its rows expire, at most a day
// after its last points do; fetch then returns nothing for it.
//
// Points that cannot be stored are dropped and counted in Stats.Dropped:
// a resolution that is not one of the sink's times, a bin older than its
// retention, a path that is not UTF-8, has an empty segment or is longer
// than 4,096 bytes.
//
// The tests run against internal/cqltest, an in-process stand-in that
// speaks the CQL native protocol (no Cassandra can run where they run);
// TestRealCassandra runs against a real one when CASSANDRA_HOSTS is set.
package cassandra

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"ringrelay/sinks"
)

const (
	// maxPathLen bounds a stored path (Cassandra allows 64 KiB keys; no
	// graphite tool reads paths anywhere near this).
	maxPathLen = 4096
	// maxTTL is Cassandra's largest TTL: 20 years.
	maxTTL = 20 * 365 * 24 * time.Hour
)

// Sink is an open Cassandra sink; it implements sinks.Sink and
// sinks.Reader. All methods are safe for concurrent use.
type Sink struct {
	name  string
	log   *zap.Logger
	store *store
	async *sinks.Async

	screen    *sinks.Screen // drops (counts) what cannot be stored before it is queued
	closeOnce sync.Once
	closeErr  error
}

var (
	_ sinks.Sink        = (*Sink)(nil)
	_ sinks.Reader      = (*Sink)(nil)
	_ sinks.BatchWriter = (*store)(nil)
)

// Open validates the config, tries to connect (and create the schema) and
// starts the writer goroutine; Close stops it. Cassandra being down is
// not an error (see the package doc); a bad config or a retention beyond
// Cassandra's largest TTL is.
func Open(name string, c Config, rets []sinks.Retention, q sinks.AsyncConfig, log *zap.Logger) (*Sink, error) {
	return open(name, c, rets, q, log, time.Now)
}

// open is Open with a clock, for tests of TTLs.
func open(name string, c Config, rets []sinks.Retention, q sinks.AsyncConfig, log *zap.Logger, now func() time.Time) (*Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	if err := sinks.CheckRetentions(rets); err != nil {
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	for _, r := range rets {
		if r.Retention > maxTTL {
			return nil, fmt.Errorf("sink %q: times: retention %s of resolution %s is beyond Cassandra's largest TTL (20 years)", name, r.Retention, r.Resolution)
		}
	}
	log = log.With(zap.String("sink", name), zap.Strings("hosts", c.Hosts), zap.String("keyspace", c.Keyspace))
	st, err := newStore(c, rets, log, now)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	if _, err := st.session(); err != nil {
		log.Warn("cassandra unreachable at open; the sink connects at the first write or read that finds it up", zap.Error(err))
	}
	return &Sink{name: name, log: log, store: st, async: sinks.NewAsync(st, q, log),
		screen: sinks.NewScreen(log, st.now, st.reject)}, nil
}

// Write queues the points that can be stored and drops (counts) the rest;
// it never waits for the Cassandra. pts is only read during the call.
func (s *Sink) Write(pts []sinks.Point) { s.async.Write(s.screen.Keep(pts)) }

// Stats returns the counts: the queue's, plus the points Write refused.
func (s *Sink) Stats() sinks.Stats {
	st := s.async.Stats()
	st.Dropped += s.screen.Rejected()
	return st
}

// Close writes what is queued while ctx allows (the rest is counted as
// dropped) and closes the connections. Idempotent.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.closeErr = s.async.Close(ctx)
		s.store.close()
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sink %q: %w", s.name, s.closeErr)
		}
	})
	return s.closeErr
}

// Retentions are the resolutions the sink keeps, finest first.
func (s *Sink) Retentions() []sinks.Retention { return s.store.rets }

// Find returns the nodes matching pattern, walking the paths table.
func (s *Sink) Find(ctx context.Context, pattern *sinks.Glob) ([]sinks.Node, error) {
	nodes, err := s.store.find(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("sink %q: failed to find %q: %w", s.name, pattern, err)
	}
	return nodes, nil
}

// Fetch returns path's points at resolution res with from <= Start <
// until, ascending, reading one partition per bucket.
func (s *Sink) Fetch(ctx context.Context, path string, res int64, from, until int64) ([]sinks.Point, error) {
	pts, err := s.store.fetch(ctx, path, res, from, until)
	if err != nil {
		return nil, fmt.Errorf("sink %q: failed to fetch %q: %w", s.name, path, err)
	}
	return pts, nil
}

// reject says why p cannot be stored, or "".
func (s *store) reject(p *sinks.Point, now int64) string {
	if err := sinks.CheckPoint(p); err != nil {
		return err.Error()
	}
	ret, ok := s.retention[p.Resolution]
	switch {
	case !ok:
		return fmt.Sprintf("resolution %ds is not one of the sink's times", p.Resolution)
	case p.Start+ret <= now:
		return "older than its resolution's retention"
	case len(p.Path) > maxPathLen:
		return fmt.Sprintf("path longer than %d bytes", maxPathLen)
	case !utf8.ValidString(p.Path):
		return "path is not UTF-8"
	case strings.HasPrefix(p.Path, ".") || strings.HasSuffix(p.Path, ".") || strings.Contains(p.Path, ".."):
		return "path has an empty segment"
	}
	return ""
}
