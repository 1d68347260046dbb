package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// BenchmarkWrite writes batches of 1,000 points of known series, as an
// aggregator's flush does, at two resolutions.
func BenchmarkWrite(b *testing.B) {
	clk := sinkstest.NewClock(t0)
	s := openStore(b, Config{MaxSeries: 10_000, MaxPoints: 1 << 30}, clk, "10s:1h", "1m:1d")
	batches := make([][]sinks.Point, 10)
	for k := range batches {
		for i := range 500 {
			p := fmt.Sprintf("servers.host%03d.cpu.metric%d", k, i)
			batches[k] = append(batches[k], sinkstest.Point(p, 10, t0, 1), sinkstest.Point(p, 60, t0, 1))
		}
	}
	start := int64(t0)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		batch := batches[n%len(batches)]
		if n%len(batches) == 0 {
			start += 10
			clk.Set(start)
		}
		for i := range batch {
			batch[i].Start = start - start%batch[i].Resolution
		}
		s.Write(batch)
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "points/s")
	if st := s.Stats(); st.Dropped != 0 {
		b.Fatalf("stats %+v: points dropped", st)
	}
}

// BenchmarkFind finds over 100,000 series (1,000 hosts × 100 metrics),
// and over 1,000,000 (10,000 hosts) when asked for by name
// (-bench 'Find/1M').
func BenchmarkFind(b *testing.B) {
	for _, size := range []struct {
		name  string
		hosts int
	}{{"100k", 1000}, {"1M", 10_000}} {
		b.Run(size.name, func(b *testing.B) {
			clk := sinkstest.NewClock(t0)
			s := openStore(b, Config{MaxSeries: size.hosts * 100, MaxPoints: 1 << 30}, clk, "10s:1h")
			batch := make([]sinks.Point, 0, 100)
			for h := range size.hosts {
				batch = batch[:0]
				for m := range 100 {
					batch = append(batch, sinkstest.Point(fmt.Sprintf("servers.host%05d.cpu.metric%02d", h, m), 10, t0, 1))
				}
				s.Write(batch)
			}
			for _, pattern := range []string{
				"servers.*",
				"servers.host00042.cpu.*",
				"servers.*.cpu.metric07",
				"servers.host0001{1,2}.cpu.metric[0-4]?",
				"servers.host00042.cpu.metric07",
			} {
				g, err := sinks.CompileGlob(pattern)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(pattern, func(b *testing.B) {
					b.ReportAllocs()
					var worst time.Duration
					for b.Loop() {
						began := time.Now()
						nodes, err := s.Find(context.Background(), g)
						worst = max(worst, time.Since(began))
						if err != nil || len(nodes) == 0 {
							b.Fatalf("Find(%q) = %d nodes, %v", pattern, len(nodes), err)
						}
					}
					b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
				})
			}
		})
	}
}
