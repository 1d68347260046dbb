package sinks

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// screenLogEvery rate-limits the log line about dropped points.
const screenLogEvery = time.Minute

// Screen keeps the points a sink cannot store out of its queue: it drops
// them, counts them, and logs one of them a minute.
type Screen struct {
	log    *zap.Logger
	reject func(p *Point, now int64) string // why p cannot be stored, or ""
	now    func() time.Time

	rejected atomic.Uint64
	lastLog  atomic.Int64 // unix nanos of the last log line
}

// NewScreen returns a screen that asks reject about each point, at the
// time now gives.
func NewScreen(log *zap.Logger, now func() time.Time, reject func(p *Point, now int64) string) *Screen {
	return &Screen{log: log, reject: reject, now: now}
}

// Keep returns the points of pts that can be stored: pts itself when all
// can (no copy), else a new slice.
func (s *Screen) Keep(pts []Point) []Point {
	now := s.now().Unix()
	for i := range pts {
		if s.reject(&pts[i], now) != "" {
			return s.filter(pts, now)
		}
	}
	return pts
}

func (s *Screen) filter(pts []Point, now int64) []Point {
	out := make([]Point, 0, len(pts))
	for i := range pts {
		why := s.reject(&pts[i], now)
		if why == "" {
			out = append(out, pts[i])
			continue
		}
		s.rejected.Add(1)
		if last := s.lastLog.Load(); time.Since(time.Unix(0, last)) >= screenLogEvery &&
			s.lastLog.CompareAndSwap(last, time.Now().UnixNano()) {
			s.log.Warn("point dropped (further drops this minute are only counted)",
				zap.String("path", pts[i].Path), zap.Int64("resolution", pts[i].Resolution),
				zap.Int64("start", pts[i].Start), zap.String("reason", why))
		}
	}
	return out
}

// Rejected is how many points Keep has dropped.
func (s *Screen) Rejected() uint64 { return s.rejected.Load() }
