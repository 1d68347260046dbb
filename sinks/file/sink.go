// Package file is the write-only sink that appends flushed bins to TSV
// files, one per resolution, for other tools to load or ship.
//
// In dir, the sink called NAME writes NAME.<res>.tsv per resolution of
// its times (<res> like 10s, 1m, 1h, 1d), one row per point:
//
//	path \t resolution \t start \t count \t sum \t min \t max \t last \n
//
// resolution and start in seconds (start a unix time), floats as
// strconv's 'g' with the shortest exact form (they parse back to the same
// bits; infinities as +Inf/-Inf, NaN as NaN). A path holding a tab, a
// newline or a carriage return cannot be written and is dropped (counted).
//
// The files are logs: a re-emitted bin (a late point re-emits its bin
// with all its values) is appended again, and a batch tried again after
// an error may repeat rows, so a reader takes the LAST row of each (path,
// resolution, start).
//
// Rotation: a current file is renamed to NAME.<res>.tsv.<UTC time of the
// rotation, 20060102T150405Z>[-NNN] before a write that would take it past
// rotate_bytes, or once its first row is rotate_age old (checked when a
// batch is written; an idle file is not rotated), and at Open when it is
// not empty (each run starts its own files). Rotated names sort in the
// order they were written; beyond max_files of them per resolution, the
// oldest are removed.
//
// fsync policy (key fsync): "batch" syncs the files a batch was written to
// before the batch counts as written; "interval" syncs files written to
// every fsync_interval; "never" leaves it to the kernel. See Config.Fsync.
//
// Writes go through a sinks.Async queue, so Write never waits for the
// disk; a disk that falls behind costs the oldest queued points (counted).
package file

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ringrelay/sinks"
)

// Sink is the file sink. Write, Stats and Close may be called from any
// goroutine.
type Sink struct {
	async   *sinks.Async
	w       *writer
	levels  []level
	now     func() time.Time
	warn    *zap.Logger // sampled: one line per message a minute
	dropped atomic.Uint64

	syncStop  chan struct{} // fsync = "interval": stops the syncer
	syncDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ sinks.Sink = (*Sink)(nil)

// level is one resolution the sink writes.
type level struct {
	res, keep int64 // seconds
}

// Open creates dir if needed, rotates non-empty current files left by an
// earlier run, opens a current file per resolution of rets, and starts the
// queue (q) and, with fsync = "interval", the syncer. Errors name the
// setting or the file.
func Open(name string, c Config, rets []sinks.Retention, q sinks.AsyncConfig, log *zap.Logger) (*Sink, error) {
	return open(name, c, rets, q, log, time.Now)
}

// open is Open with the clock used for rotation and retention.
func open(name string, c Config, rets []sinks.Retention, q sinks.AsyncConfig, log *zap.Logger, now func() time.Time) (*Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return nil, fmt.Errorf("sink name %q: cannot start a file name", name)
	}
	levels, err := levelsOf(rets)
	if err != nil {
		return nil, err
	}
	log = log.Named("file").With(zap.String("sink", name))
	w, err := openWriter(name, c, levels, log, now)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		async: sinks.NewAsync(w, q, log), w: w, levels: levels, now: now,
		warn: log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Minute, 1, 0)
		})),
	}
	if c.Fsync == FsyncInterval {
		s.syncStop, s.syncDone = make(chan struct{}), make(chan struct{})
		go s.syncEvery(c.FsyncInterval.Duration)
	}
	return s, nil
}

func levelsOf(rets []sinks.Retention) ([]level, error) {
	if err := sinks.CheckRetentions(rets); err != nil {
		return nil, err
	}
	levels := make([]level, 0, len(rets))
	for _, r := range rets {
		levels = append(levels, level{res: sinks.Seconds(r.Resolution), keep: sinks.Seconds(r.Retention)})
	}
	return levels, nil
}

// Write queues pts for the files; it never waits for the disk. Points of
// a resolution the sink does not keep, past their retention, invalid, or
// with a path a TSV row cannot hold are dropped and counted. pts is only
// read during the call.
func (s *Sink) Write(pts []sinks.Point) {
	now := s.now().Unix()
	for i := range pts {
		if why := s.refuse(&pts[i], now); why != "" {
			pts = s.keep(pts, i, now)
			break
		}
	}
	s.async.Write(pts)
}

// keep returns the points of pts the sink can write (pts[bad] is the
// first it cannot), counting and logging the rest.
func (s *Sink) keep(pts []sinks.Point, bad int, now int64) []sinks.Point {
	out := make([]sinks.Point, bad, len(pts))
	copy(out, pts[:bad])
	var dropped uint64
	var why string
	var first *sinks.Point
	for i := bad; i < len(pts); i++ {
		if r := s.refuse(&pts[i], now); r != "" {
			if first == nil {
				why, first = r, &pts[i]
			}
			dropped++
			continue
		}
		out = append(out, pts[i])
	}
	s.dropped.Add(dropped)
	s.warn.Warn("points dropped: "+why, zap.Uint64("points", dropped),
		zap.String("path", first.Path), zap.Int64("resolution", first.Resolution), zap.Int64("start", first.Start))
	return out
}

// refuse says why p cannot be written, or "".
func (s *Sink) refuse(p *sinks.Point, now int64) string {
	if err := sinks.CheckPoint(p); err != nil {
		return "invalid point"
	}
	if strings.ContainsAny(p.Path, "\t\n\r") {
		return "path holds a tab or line break"
	}
	for _, l := range s.levels {
		if l.res == p.Resolution {
			if p.Start+l.res <= now-l.keep {
				return "older than the retention"
			}
			return ""
		}
	}
	return "resolution not in the sink's times"
}

// Stats returns the counts: the queue's, plus points refused by Write
// (Dropped) and failed syncs of fsync = "interval" (Errors).
func (s *Sink) Stats() sinks.Stats {
	st := s.async.Stats()
	st.Dropped += s.dropped.Load()
	st.Errors += s.w.syncErrors.Load()
	return st
}

// syncEvery syncs the files written to since the last tick, until Close.
func (s *Sink) syncEvery(every time.Duration) {
	defer close(s.syncDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.syncStop:
			return
		case <-t.C:
			s.w.syncDirty()
		}
	}
}

// Close writes what is queued while ctx allows (the rest is counted as
// dropped), then syncs (unless fsync = "never") and closes the files.
// Idempotent: later calls return the first one's error.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		err := s.async.Close(ctx)
		if s.syncStop != nil {
			close(s.syncStop)
			<-s.syncDone
		}
		s.closeErr = errors.Join(err, s.w.close())
	})
	return s.closeErr
}
