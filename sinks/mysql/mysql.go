// Package mysql is the MySQL/MariaDB sink: it stores flushed bins in two
// InnoDB tables, one row per (path, resolution, bin start), and reads them
// back for the Graphite read API (it is a sinks.Reader).
//
// Writes go through a sinks.Async queue: Write never waits for the
// database; one writer goroutine sends batches as multi-row upserts
// (INSERT ... ON DUPLICATE KEY UPDATE, so a re-emitted bin overwrites its
// row), retries a failed batch and then drops it (counted). Path ids are
// cached in memory, so a batch of known paths is one statement per 1,000
// points. A retention job deletes rows older than their resolution's
// retention every retention_interval. The tables are created at Open if
// missing (or at the first write, if the database was down at Open).
//
// Schema (table names carry table_prefix, default "ringrelay_"):
//
//	CREATE TABLE ringrelay_paths (        -- one row per node of the tree
//	  depth  SMALLINT UNSIGNED NOT NULL,  -- number of segments: a.b.c is 3
//	  path   VARCHAR(767) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
//	  id     BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
//	  leaf   TINYINT UNSIGNED NOT NULL,   -- 1: a stored series
//	  branch TINYINT UNSIGNED NOT NULL,   -- 1: the prefix of a longer path
//	  PRIMARY KEY (depth, path),
//	  UNIQUE KEY id (id)
//	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
//	CREATE TABLE ringrelay_points (
//	  path_id    BIGINT UNSIGNED NOT NULL,  -- ringrelay_paths.id of a leaf
//	  resolution INT UNSIGNED NOT NULL,     -- seconds
//	  start      BIGINT NOT NULL,           -- bin start, unix seconds
//	  count BIGINT NOT NULL, sum DOUBLE NOT NULL, min DOUBLE NOT NULL,
//	  max DOUBLE NOT NULL, last DOUBLE NOT NULL,
//	  PRIMARY KEY (path_id, resolution, start),
//	  KEY expiry (resolution, start)         -- for the retention job
//	) ENGINE=InnoDB;
//
// Storing "a.b.c" stores the nodes "a" and "a.b" (branches) and "a.b.c"
// (a leaf); a node can be both. The paths table is clustered by (depth,
// path) with a binary collation (case-sensitive, byte order), so a find
// reads only nodes of the pattern's depth: "servers.web*.cpu" is a range
// scan of the depth-3 rows from "servers.web" (LIKE on the pattern's
// literal start), matched against the glob in the relay; "a.b.c" is a key
// lookup; "*" reads the depth-1 rows. A node stays in the paths table
// when its points expire (as a whisper file stays on disk): find lists
// it, fetch returns nothing for it.
//
// Points that cannot be stored are dropped and counted in
// Stats.Dropped: a resolution that is not one of the sink's times, a bin
// older than its retention, a path longer than 767 characters or not
// UTF-8, a NaN or infinite value.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	driver "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"ringrelay/sinks"
)

// defaultDialTimeout bounds a connection attempt when the DSN sets none
// (the driver's default is the OS's, minutes).
const defaultDialTimeout = 5 * time.Second

// Sink is an open MySQL sink; it implements sinks.Sink and sinks.Reader.
// All methods are safe for concurrent use.
type Sink struct {
	name  string
	log   *zap.Logger
	store *store
	async *sinks.Async

	screen *sinks.Screen // drops (counts) what cannot be stored before it is queued

	stopRetention context.CancelFunc
	wg            sync.WaitGroup // the retention goroutine

	closeOnce sync.Once
}

var (
	_ sinks.Sink        = (*Sink)(nil)
	_ sinks.Reader      = (*Sink)(nil)
	_ sinks.BatchWriter = (*store)(nil)
)

// Open connects to the database of c.DSN, creates the tables if missing
// and starts the writer and retention goroutines; Close stops them. It
// waits for the database at most q.Timeout (10 s if unset). A database
// that cannot be reached is not an error (the writer creates the tables
// when it answers; meanwhile writes fail and are counted), but one that
// refuses (bad credentials, no such database) is.
func Open(name string, c Config, rets []sinks.Retention, q sinks.AsyncConfig, log *zap.Logger) (*Sink, error) {
	return open(name, c, rets, q, log, time.Now)
}

// open is Open with a clock, for tests of retention.
func open(name string, c Config, rets []sinks.Retention, q sinks.AsyncConfig, log *zap.Logger, now func() time.Time) (*Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	if err := sinks.CheckRetentions(rets); err != nil {
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	dc, err := driver.ParseDSN(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("sink %q: dsn: %w", name, err)
	}
	// Client-side interpolation makes a multi-row upsert one round trip
	// instead of prepare, execute and close.
	dc.InterpolateParams = true
	if dc.Timeout == 0 {
		dc.Timeout = defaultDialTimeout
	}
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("sink %q: dsn: %w", name, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(c.MaxOpenConns)
	db.SetMaxIdleConns(c.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)

	log = log.With(zap.String("sink", name), zap.String("database", dc.DBName), zap.String("addr", dc.Addr))
	st := newStore(db, newTables(c.TablePrefix), rets, log, now)
	if err := checkOpen(st, q.Timeout); err != nil {
		db.Close()
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	s := &Sink{name: name, log: log, store: st, async: sinks.NewAsync(st, q, log),
		screen: sinks.NewScreen(log, st.now, st.reject)}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopRetention = cancel
	s.wg.Go(func() { s.retentionLoop(ctx, c.RetentionInterval.Duration) })
	return s, nil
}

// refusals are the server's answers that waiting will not change: the
// DSN (user, password, database) or the grants are wrong.
var refusals = []uint16{
	1044, // ER_DBACCESS_DENIED_ERROR
	1045, // ER_ACCESS_DENIED_ERROR
	1049, // ER_BAD_DB_ERROR
	1142, // ER_TABLEACCESS_DENIED_ERROR (no CREATE grant)
}

// checkOpen creates the tables. Only a refusal is an error; any other
// failure (unreachable, shutting down, too many connections) is logged
// and the writer tries again.
func checkOpen(st *store, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := st.ensureSchema(ctx)
	if err == nil {
		return nil
	}
	if me, ok := errors.AsType[*driver.MySQLError](err); ok && slices.Contains(refusals, me.Number) {
		return err
	}
	st.log.Warn("database unreachable at open; the tables are created when it answers", zap.Error(err))
	return nil
}

// Write queues the points that can be stored and drops (counts) the rest;
// it never waits for the database. pts is only read during the call.
func (s *Sink) Write(pts []sinks.Point) { s.async.Write(s.screen.Keep(pts)) }

// Stats returns the counts: the queue's, plus the points Write refused.
func (s *Sink) Stats() sinks.Stats {
	st := s.async.Stats()
	st.Dropped += s.screen.Rejected()
	return st
}

// Close stops the retention job, writes what is queued while ctx allows
// (the rest is counted as dropped) and closes the connections.
// Idempotent: later calls return nil.
func (s *Sink) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		s.stopRetention()
		s.wg.Wait()
		err = s.async.Close(ctx)
		if cerr := s.store.db.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			err = fmt.Errorf("sink %q: %w", s.name, err)
		}
	})
	return err
}

// Find returns the nodes matching pattern, sorted by path.
func (s *Sink) Find(ctx context.Context, pattern *sinks.Glob) ([]sinks.Node, error) {
	nodes, err := s.store.find(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("sink %q: failed to find %q: %w", s.name, pattern.String(), err)
	}
	return nodes, nil
}

// Fetch returns path's points at resolution res with from <= Start <
// until, ordered by Start. Points older than the retention are not
// returned even when the retention job has not deleted them yet.
func (s *Sink) Fetch(ctx context.Context, path string, res int64, from, until int64) ([]sinks.Point, error) {
	pts, err := s.store.fetch(ctx, path, res, from, until)
	if err != nil {
		return nil, fmt.Errorf("sink %q: failed to fetch %q at %ds: %w", s.name, path, res, err)
	}
	return pts, nil
}

// Retentions are the sink's resolutions, finest first.
func (s *Sink) Retentions() []sinks.Retention { return slices.Clone(s.store.rets) }

// retentionLoop deletes expired rows every interval until ctx ends.
func (s *Sink) retentionLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		began := time.Now()
		rctx, cancel := context.WithTimeout(ctx, interval)
		n, err := s.store.deleteExpired(rctx, s.store.now())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("failed to delete expired points", zap.Int64("deleted", n), zap.Error(err))
		case err == nil:
			s.log.Debug("deleted expired points", zap.Int64("deleted", n), zap.Duration("took", time.Since(began)))
		}
	}
}

// store is the database side: the BatchWriter behind the queue, the
// queries of the read side, and the retention deletes.
type store struct {
	db     *sql.DB
	tables tables
	rets   []sinks.Retention
	keep   map[int64]int64 // resolution → retention, seconds
	log    *zap.Logger
	now    func() time.Time

	schemaMu    sync.Mutex // serialises creating the tables
	schemaReady atomic.Bool

	// ids caches paths.id by path. Owned by the queue's writer goroutine,
	// the only caller of WriteBatch; cleared when it grows past
	// maxCachedPaths.
	ids  map[string]uint64
	rows []row // WriteBatch's buffer, owned likewise
	args []any // likewise
}

func newStore(db *sql.DB, t tables, rets []sinks.Retention, log *zap.Logger, now func() time.Time) *store {
	keep := make(map[int64]int64, len(rets))
	for _, r := range rets {
		keep[sinks.Seconds(r.Resolution)] = sinks.Seconds(r.Retention)
	}
	return &store{db: db, tables: t, rets: slices.Clone(rets), keep: keep, log: log, now: now, ids: map[string]uint64{}}
}

// ensureSchema creates the tables once (per process, or again after
// forget).
func (s *store) ensureSchema(ctx context.Context) error {
	if s.schemaReady.Load() {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaReady.Load() {
		return nil
	}
	if err := s.createSchema(ctx); err != nil {
		return err
	}
	s.schemaReady.Store(true)
	return nil
}

// reject says why p cannot be stored at now (unix seconds), or "".
func (s *store) reject(p *sinks.Point, now int64) string {
	if err := sinks.CheckPoint(p); err != nil {
		return err.Error()
	}
	keep, ok := s.keep[p.Resolution]
	switch {
	case !ok:
		return fmt.Sprintf("resolution %ds is not one of the sink's times", p.Resolution)
	case p.Start < now-keep:
		return fmt.Sprintf("older than the retention of %ds", keep)
	case !utf8.ValidString(p.Path):
		return "path is not valid UTF-8"
	case utf8.RuneCountInString(p.Path) > maxPathLen:
		return fmt.Sprintf("path is longer than %d characters", maxPathLen)
	case !finite(p.Sum) || !finite(p.Min) || !finite(p.Max) || !finite(p.Last):
		return "NaN or infinite value"
	}
	return ""
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// forgetOnMissingTable makes the next batch create the tables again and
// look the ids up afresh when err says a table is gone (dropped by hand).
func (s *store) forgetOnMissingTable(err error) {
	const erNoSuchTable = 1146
	if me, ok := errors.AsType[*driver.MySQLError](err); ok && me.Number == erNoSuchTable {
		s.schemaReady.Store(false)
		clear(s.ids)
	}
}
