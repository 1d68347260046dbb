package cassandra

import (
	"context"
	"fmt"
	"testing"

	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// BenchmarkWriteBatch measures what the queue's writer sends for 1,000
// known paths (index rows already written): 1,000 single-row unlogged
// batches, 8 in flight, to the stand-in over loopback.
func BenchmarkWriteBatch(b *testing.B) {
	e := newEnv(b, testQueue(), nil)
	const paths = 1000
	batch := make([]sinks.Point, paths)
	for i := range batch {
		batch[i] = point(fmt.Sprintf("bench.host%d.cpu", i), epoch.Unix()-hour+ten, 1)
	}
	ctx := context.Background()
	if err := e.sink.store.WriteBatch(ctx, batch); err != nil { // writes the index rows
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			batch[i].Start += ten
		}
		if err := e.sink.store.WriteBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*paths)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkFind measures a Grafana-style find ("bench.h12*.cpu.*") among
// 10,000 paths.
func BenchmarkFind(b *testing.B) {
	e := newEnv(b, testQueue(), nil)
	var pts []sinks.Point
	for i := range 10_000 {
		pts = append(pts, point(fmt.Sprintf("bench.h%d.cpu.c%d", i%100, i/100), epoch.Unix(), 1))
	}
	if err := e.sink.store.WriteBatch(context.Background(), pts); err != nil {
		b.Fatal(err)
	}
	sinkstest.BenchFind(b, e.sink, "bench.h12*.cpu.*", "bench.*", "bench.h1.cpu.c1")
}

// BenchmarkFetch measures reading one series' hour of 10 s bins (360
// points, two buckets of an hour).
func BenchmarkFetch(b *testing.B) {
	e := newEnv(b, testQueue(), nil)
	now := epoch.Unix()
	var pts []sinks.Point
	for start := now - hour + ten; start <= now; start += ten {
		pts = append(pts, point("bench.series", start, 1))
	}
	if err := e.sink.store.WriteBatch(context.Background(), pts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := e.sink.Fetch(context.Background(), "bench.series", ten, now-hour, now+ten)
		if err != nil || len(got) != len(pts) {
			b.Fatalf("got %d points (%v), want %d", len(got), err, len(pts))
		}
	}
}
