// Package sinkstest has the helpers the sink kinds' tests share: a point
// of one sample, reads that fail the test on error, a settable clock.
package sinkstest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"ringrelay/sinks"
)

// Point is a bin of path at resolution res and start holding one sample v.
func Point(path string, res, start int64, v float64) sinks.Point {
	return sinks.Point{Path: path, Resolution: res, Start: start, Count: 1, Sum: v, Min: v, Max: v, Last: v}
}

// Fetch reads path's points at res in [from, until) from r.
func Fetch(t testing.TB, r sinks.Reader, path string, res, from, until int64) []sinks.Point {
	t.Helper()
	got, err := r.Fetch(context.Background(), path, res, from, until)
	if err != nil {
		t.Fatalf("Fetch(%q, %d, %d, %d): %v", path, res, from, until, err)
	}
	return got
}

// Find returns the nodes of r matching pattern.
func Find(t testing.TB, r sinks.Reader, pattern string) []sinks.Node {
	t.Helper()
	g, err := sinks.CompileGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Find(context.Background(), g)
	if err != nil {
		t.Fatalf("Find(%q): %v", pattern, err)
	}
	return got
}

// Starts are the points' start times, in order.
func Starts(pts []sinks.Point) []int64 {
	out := make([]int64, len(pts))
	for i, p := range pts {
		out[i] = p.Start
	}
	return out
}

// Clock is a settable time for a sink's now func: it stands still until
// the test moves it. Safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock at sec (unix seconds).
func NewClock(sec int64) *Clock {
	c := &Clock{}
	c.Set(sec)
	return c
}

// Now reads the clock.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Set puts the clock at sec (unix seconds).
func (c *Clock) Set(sec int64) { c.ns.Store(sec * int64(time.Second)) }

// BenchFind runs a sub-benchmark of r.Find for each pattern.
func BenchFind(b *testing.B, r sinks.Reader, patterns ...string) {
	for _, pattern := range patterns {
		g, err := sinks.CompileGlob(pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(pattern, func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Find(context.Background(), g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
