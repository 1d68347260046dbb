// Package memory is the embedded store: it keeps flushed bins in memory,
// bounded, and serves the Graphite read API on its own (it is a
// sinks.Reader), with an optional snapshot file so a restart keeps the
// data.
//
// Bounds: each series keeps, per resolution, at most retention/resolution
// bins in a ring (the newest; a bin whose end is older than its retention
// is forgotten), and the store keeps at most max_series series (a point of
// a new path beyond it is dropped and counted). Memory grows with the bins
// held, about 48 bytes each, up to max_series × Σ retention/resolution
// bins: with the default times ("10s:168h", "1m:720h") that is 5 MB per
// series, so a store meant to hold many series full should be given
// shorter times.
//
// Write is synchronous and cheap (one lock per call, no allocation per
// point of a known series): it is on the aggregators' flush path. The
// package leaves the read API (package graphiteapi) and where points come
// from (package proxy) to others.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ringrelay/aggregator"
	"ringrelay/sinks"
)

// sweepEvery is how often the bins past their retention are forgotten,
// and series left without bins removed (making room under max_series).
const sweepEvery = time.Minute

// sweepChunk bounds the series one sweep step handles under the lock, so
// that a sweep of a large store never holds writers up for long.
const sweepChunk = 4096

// Store is the memory sink. Write, Fetch, Find and Stats may be called
// from any goroutine; one background goroutine (started by Open, stopped
// by Close) forgets expired bins and writes the periodic snapshot.
type Store struct {
	name   string
	cfg    Config
	rets   []sinks.Retention
	levels []level
	log    *zap.Logger
	warn   *zap.Logger // sampled: one line per message a minute
	now    func() time.Time

	mu     sync.RWMutex
	byPath map[string]*series
	list   []*series // the same series, for sweeps and snapshots in steps
	root   node
	st     sinks.Stats
	points int // bins held over every ring (bounded by max_points)
	closed bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// level is one retention in the form the store uses.
type level struct {
	res, keep int64 // seconds
	slots     int   // bins a ring holds at most
}

// horizon is the first bin start still kept at now (a bin whose end is
// older than the retention is gone, as in the graphite aggregator).
func (l level) horizon(now int64) int64 { return now - l.keep - l.res + 1 }

// series is one path: a ring per level.
type series struct {
	path  string
	rings []ring
	idx   int   // position in Store.list
	node  *node // its leaf in the path tree
}

var (
	_ sinks.Sink   = (*Store)(nil)
	_ sinks.Reader = (*Store)(nil)
)

// Open returns a store for the sink called name, keeping the resolutions
// of rets. With a snapshot configured it loads the file first (a missing
// file is an empty store; an unreadable or corrupt one is an error naming
// it) and then rewrites it every snapshot_interval and at Close.
func Open(name string, c Config, rets []sinks.Retention, log *zap.Logger) (*Store, error) {
	return open(name, c, rets, log, time.Now)
}

// open is Open with the clock that decides what has expired.
func open(name string, c Config, rets []sinks.Retention, log *zap.Logger, now func() time.Time) (*Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	levels, err := levelsOf(rets)
	if err != nil {
		return nil, err
	}
	log = log.Named("memory").With(zap.String("sink", name))
	s := &Store{
		name: name, cfg: c, rets: rets, levels: levels, log: log, now: now,
		warn: log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Minute, 1, 0)
		})),
		byPath: make(map[string]*series),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if c.Snapshot != "" {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	go s.background()
	return s, nil
}

// levelsOf checks rets and turns them into levels.
func levelsOf(rets []sinks.Retention) ([]level, error) {
	if err := sinks.CheckRetentions(rets); err != nil {
		return nil, err
	}
	levels := make([]level, 0, len(rets))
	for _, r := range rets {
		res, keep := sinks.Seconds(r.Resolution), sinks.Seconds(r.Retention)
		levels = append(levels, level{res: res, keep: keep, slots: int(keep / res)})
	}
	return levels, nil
}

// level returns the index of the level of resolution res, or -1.
func (s *Store) level(res int64) int {
	for i, l := range s.levels {
		if l.res == res {
			return i
		}
	}
	return -1
}

// Write stores pts (upserts by path, resolution and start). Points of a
// resolution the store does not keep, past their retention, invalid, or
// of a new path beyond max_series are dropped and counted. pts is only
// read during the call.
func (s *Store) Write(pts []sinks.Point) {
	now := s.now().Unix()
	var dropped, written uint64
	var why string
	var whyPoint *sinks.Point
	s.mu.Lock()
	if s.closed {
		s.st.Dropped += uint64(len(pts))
		s.mu.Unlock()
		return
	}
	for i := range pts {
		p := &pts[i]
		if reason := s.put(p, now); reason != "" {
			dropped++
			why, whyPoint = reason, p
			continue
		}
		written++
	}
	s.st.Written += written
	s.st.Dropped += dropped
	s.mu.Unlock()
	if dropped > 0 {
		s.warn.Warn("points dropped: "+why, zap.Uint64("points", dropped),
			zap.String("path", whyPoint.Path), zap.Int64("resolution", whyPoint.Resolution), zap.Int64("start", whyPoint.Start))
	}
}

// put stores one point under the lock, or says why it was dropped.
func (s *Store) put(p *sinks.Point, now int64) (dropped string) {
	if sinks.CheckPoint(p) != nil {
		return "invalid point (empty path, or start not a multiple of the resolution)"
	}
	li := s.level(p.Resolution)
	if li < 0 {
		return "resolution not in the sink's times"
	}
	l := s.levels[li]
	if p.Start < l.horizon(now) {
		return "older than the retention"
	}
	se := s.byPath[p.Path]
	if se == nil {
		if len(s.list) >= s.cfg.MaxSeries {
			return "max_series reached"
		}
		se = s.addSeries(p.Path)
	}
	r := &se.rings[li]
	before := r.n
	r.expire(l.horizon(now))
	if s.points-(before-r.n) >= s.cfg.MaxPoints && r.n < l.slots && !r.has(p.Start) {
		s.points -= before - r.n
		return "max_points reached"
	}
	kept := r.put(bin{start: p.Start, count: p.Count, sum: p.Sum, min: p.Min, max: p.Max, last: p.Last}, l.slots)
	s.points += r.n - before
	if !kept {
		return "older than every bin the series keeps"
	}
	return ""
}

// addSeries creates the series of path (under the lock).
func (s *Store) addSeries(path string) *series {
	se := &series{path: path, rings: make([]ring, len(s.levels)), idx: len(s.list)}
	s.byPath[path] = se
	s.list = append(s.list, se)
	s.root.add(se)
	return se
}

// removeSeries forgets se (under the lock).
func (s *Store) removeSeries(se *series) {
	for li := range se.rings {
		s.points -= se.rings[li].n
	}
	last := s.list[len(s.list)-1]
	s.list[se.idx], last.idx = last, se.idx
	s.list[len(s.list)-1] = nil
	s.list = s.list[:len(s.list)-1]
	delete(s.byPath, se.path)
	s.root.remove(se)
}

// Stats returns the counts: Written are points stored (a re-emitted bin
// counts again), Dropped those not stored, Errors failed snapshot writes.
func (s *Store) Stats() sinks.Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st
}

// Series is the number of series held.
func (s *Store) Series() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.list)
}

// Retentions are the resolutions kept, finest first (a copy).
func (s *Store) Retentions() []sinks.Retention { return slices.Clone(s.rets) }

// Fetch returns path's bins at resolution res with from <= Start < until
// that are within their retention, ordered by Start; none for a path the
// store does not hold. A resolution the store does not keep is an error.
func (s *Store) Fetch(ctx context.Context, path string, res int64, from, until int64) ([]sinks.Point, error) {
	li := s.level(res)
	if li < 0 {
		return nil, fmt.Errorf("sink %q: resolution %ds is not kept (its times have %s)", s.name, res, s.resolutions())
	}
	from = max(from, s.levels[li].horizon(s.now().Unix()))
	s.mu.RLock()
	defer s.mu.RUnlock()
	se := s.byPath[path]
	if se == nil || from >= until {
		return nil, nil
	}
	r := &se.rings[li]
	first := r.search(from)
	// At most the bins of the window, and at most those held: one
	// allocation per fetch.
	out := make([]sinks.Point, 0, min(int64(r.n-first), (until-from+res-1)/res))
	for i := first; i < r.n; i++ {
		b := r.at(i)
		if b.start >= until {
			break
		}
		out = append(out, sinks.Point{Path: se.path, Resolution: res, Start: b.start,
			Count: b.count, Sum: b.sum, Min: b.min, Max: b.max, Last: b.last})
	}
	return out, nil
}

// FetchGrid is Fetch straight onto a grid of values (sinks.GridReader).
func (s *Store) FetchGrid(ctx context.Context, path string, res, start int64, m aggregator.Method, vals []float64) error {
	li := s.level(res)
	if li < 0 {
		return fmt.Errorf("sink %q: resolution %ds is not kept (its times have %s)", s.name, res, s.resolutions())
	}
	from, until := max(start, s.levels[li].horizon(s.now().Unix())), start+int64(len(vals))*res
	s.mu.RLock()
	defer s.mu.RUnlock()
	se := s.byPath[path]
	if se == nil || from >= until {
		return nil
	}
	r := &se.rings[li]
	for i := r.search(from); i < r.n; i++ {
		b := r.at(i)
		if b.start >= until {
			break
		}
		if b.start >= start && (b.start-start)%res == 0 {
			vals[(b.start-start)/res] = aggregator.ReduceStats(m, b.count, b.sum, b.min, b.max)
		}
	}
	return nil
}

func (s *Store) resolutions() string {
	out := ""
	for i, l := range s.levels {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%ds", l.res)
	}
	return out
}

// Find returns the nodes pattern matches, sorted by path: a Leaf where a
// series has the path, a Branch where longer paths go on.
func (s *Store) Find(ctx context.Context, pattern *sinks.Glob) ([]sinks.Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.root.find(pattern), nil
}

// background sweeps expired bins and writes the periodic snapshot until
// Close.
func (s *Store) background() {
	defer close(s.done)
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	var snap <-chan time.Time
	if s.cfg.Snapshot != "" && s.cfg.SnapshotInterval.Duration > 0 {
		t := time.NewTicker(s.cfg.SnapshotInterval.Duration)
		defer t.Stop()
		snap = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-sweep.C:
			s.sweep()
		case <-snap:
			s.saveLogged(context.Background())
		}
	}
}

// sweep forgets bins past their retention and the series left without
// any, a chunk of series at a time. Only the background goroutine (or
// Close, after it ended) sweeps, so s.list only grows meanwhile.
func (s *Store) sweep() {
	now := s.now().Unix()
	s.mu.RLock()
	i := len(s.list) - 1
	s.mu.RUnlock()
	removed := 0
	for i >= 0 {
		s.mu.Lock()
		for stop := max(i-sweepChunk, -1); i > stop; i-- {
			// Removing swaps the last series into i: it was visited already.
			if se := s.list[i]; s.expire(se, now) {
				s.removeSeries(se)
				removed++
			}
		}
		s.mu.Unlock()
	}
	if removed > 0 {
		s.log.Debug("expired series removed", zap.Int("series", removed))
	}
}

// expire forgets se's bins past their retention and reports whether it
// holds none any more (under the lock).
func (s *Store) expire(se *series, now int64) (empty bool) {
	empty = true
	for li := range se.rings {
		r := &se.rings[li]
		before := r.n
		if r.expire(s.levels[li].horizon(now)) > 0 {
			empty = false
		}
		s.points -= before - r.n
		r.shrink()
	}
	return empty
}

// Close writes the snapshot (if one is configured) and stops the
// background goroutine; Writes after it are dropped and counted, reads
// keep working. Idempotent: later calls return the first one's error.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if s.cfg.Snapshot != "" {
			s.closeErr = s.saveLogged(ctx)
		}
	})
	return s.closeErr
}
