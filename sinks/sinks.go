// Package sinks stores the bins aggregators flush and reads them back for
// the Graphite read API (package graphiteapi).
//
// This package holds what every sink shares: the stored Point, the Sink
// (write side) and Reader (read side) interfaces, graphite globs (Glob),
// retentions (ParseTimes) and Async, the bounded queue in front of a slow
// writer. Each kind of sink lives in its own sub-package (memory, file,
// mysql, cassandra) with its own config section; package proxy composes
// them and feeds them from aggregators' outputs ("sink:NAME").
//
// Contract: Write never blocks ingestion. A sink that cannot keep up
// drops points and counts them (Stats.Dropped); it never stalls the
// aggregator that flushes into it.
package sinks

import (
	"context"
	"fmt"
	"time"

	"ringrelay/aggregator"
)

// Point is one stored bin: the points an aggregator accumulated for Path
// in [Start, Start+Resolution). A sink keeps one row per (Path,
// Resolution, Start); a bin written again (a late point re-emits its bin
// with all its values) overwrites the row.
type Point struct {
	Path       string
	Resolution int64 // seconds
	Start      int64 // unix seconds, a multiple of Resolution
	Count      int64
	Sum        float64
	Min, Max   float64
	Last       float64
}

// Value is the point's value by the reducer the graphite accumulator uses
// for its path (aggregator.ReducerFor): sum for ".count" names, min for
// ".min"/".lower", max for ".max"/".upper", else the mean.
func (p *Point) Value() float64 {
	return Reduce(aggregator.ReducerFor(p.Path), p)
}

// Reduce applies m to the point's statistics.
func Reduce(m aggregator.Method, p *Point) float64 {
	return aggregator.ReduceStats(m, p.Count, p.Sum, p.Min, p.Max)
}

// Retention is one "resolution:retention" entry of a sink's times.
type Retention = aggregator.Retention

// ParseTimes parses entries like "10s:168h" (resolution:retention, as the
// graphite aggregator's times), finest first; each resolution must divide
// the next. The error names the entry.
func ParseTimes(times []string) ([]Retention, error) {
	gc := aggregator.GraphiteConfig{Times: times}
	return gc.Retentions()
}

// CheckRetentions checks retentions as every sink kind takes them (those
// ParseTimes returns pass): at least one, finest first, whole seconds,
// each resolution a larger multiple of the one before, each retention at
// least its resolution. The error names the entry.
func CheckRetentions(rets []Retention) error { return aggregator.CheckRetentions(rets) }

// DefaultTimes are the retentions a sink keeps when its section does not
// say: those of the graphite aggregator's default.
func DefaultTimes() []string { return aggregator.DefaultGraphiteConfig().Times }

// Stats are a sink's counts since it was opened, and its queue now.
type Stats struct {
	Queued  int    // points waiting to be written
	Written uint64 // points (rows) written
	Errors  uint64 // failed write attempts (a batch that failed counts once)
	Dropped uint64 // points dropped: queue full (oldest shed), or given up after errors
}

// Add returns the counts of s and o together (the queue: s's).
func (s Stats) Add(o Stats) Stats {
	s.Written += o.Written
	s.Errors += o.Errors
	s.Dropped += o.Dropped
	return s
}

// Sink receives flushed bins.
type Sink interface {
	// Write takes points to store. It never blocks on I/O: a sink that
	// cannot keep up drops (the oldest queued points) and counts. pts is
	// only read during the call.
	Write(pts []Point)
	// Stats returns the counts.
	Stats() Stats
	// Close writes what is queued, for as long as ctx allows (the rest is
	// counted as dropped), and releases the sink. Idempotent.
	Close(ctx context.Context) error
}

// Node is one result of Reader.Find: a path of as many segments as the
// pattern, that is a stored series (Leaf), the prefix of longer ones
// (Branch), or both.
type Node struct {
	Path         string
	Leaf, Branch bool
}

// Reader is a sink that can be read back.
type Reader interface {
	// Find returns the nodes matching a graphite glob (see Glob), sorted
	// by Path, one per path.
	Find(ctx context.Context, pattern *Glob) ([]Node, error)
	// Fetch returns path's points at resolution res (seconds) with
	// from <= Start < until, ordered by Start.
	Fetch(ctx context.Context, path string, res int64, from, until int64) ([]Point, error)
	// Retentions are the resolutions the sink keeps, finest first.
	Retentions() []Retention
}

// GridReader is a Reader that can put a series' values straight onto a
// grid of bins, the read API's fast path (no Point per bin).
type GridReader interface {
	// FetchGrid sets vals[k] to the value, by method m, of path's bin at
	// resolution res starting at start+k*res, for each such bin it holds
	// (within its retention); it leaves the other entries as they are.
	FetchGrid(ctx context.Context, path string, res, start int64, m aggregator.Method, vals []float64) error
}

// Seconds is d in whole seconds.
func Seconds(d time.Duration) int64 { return int64(d / time.Second) }

// CheckPoint reports why p cannot be stored, or nil.
func CheckPoint(p *Point) error {
	switch {
	case p.Path == "":
		return fmt.Errorf("empty path")
	case p.Resolution <= 0:
		return fmt.Errorf("%s: resolution %d: must be positive", p.Path, p.Resolution)
	case p.Start%p.Resolution != 0:
		return fmt.Errorf("%s: start %d is not a multiple of the resolution %d", p.Path, p.Start, p.Resolution)
	}
	return nil
}
