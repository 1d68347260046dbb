package mysql

import (
	"context"
	"fmt"
	"testing"

	"ringrelay/internal/mariadbtest"
	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// BenchmarkWriteBatch measures upserts of known paths, 1,000 points (one
// statement) a batch, as the queue's writer sends them.
func BenchmarkWriteBatch(b *testing.B) {
	s := openTest(b, mariadbtest.Shared(b), testQueue())
	const paths = 1000
	batch := make([]sinks.Point, paths)
	for i := range batch {
		batch[i] = sinkstest.Point(fmt.Sprintf("bench.host%d.cpu", i), 10, t0-10, 1)
	}
	ctx := context.Background()
	if err := s.store.WriteBatch(ctx, batch); err != nil { // caches the ids
		b.Fatal(err)
	}
	start := int64(t0 - 3600)
	b.ResetTimer()
	for b.Loop() {
		start += 10
		for i := range batch {
			batch[i].Start = start
		}
		if err := s.store.WriteBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*paths)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkFind measures a Grafana-style find ("bench.h12*.cpu.*") among
// 100,000 paths.
func BenchmarkFind(b *testing.B) {
	s := openTest(b, mariadbtest.Shared(b), testQueue())
	var pts []sinks.Point
	for i := range 100_000 {
		pts = append(pts, sinkstest.Point(fmt.Sprintf("bench.h%d.cpu.c%d", i%1000, i/1000), 60, t0-60, 1))
	}
	for i := 0; i < len(pts); i += 1000 {
		if err := s.store.WriteBatch(context.Background(), pts[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	sinkstest.BenchFind(b, s, "bench.h12*.cpu.*", "bench.*", "bench.h1.cpu.c1")
}
