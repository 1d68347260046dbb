package file

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"

	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// BenchmarkWrite measures points/s through the queue into the files: the
// batches of 1,000 points an aggregator flush hands over, written in
// batches of 500 (the default batch_points), until Close has drained
// them.
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []string{FsyncBatch, FsyncNever} {
		b.Run("fsync="+mode, func(b *testing.B) {
			c := testConfig(b.TempDir())
			c.Fsync = mode
			clk := sinkstest.NewClock(t0 + 60)
			rs, _ := sinks.ParseTimes([]string{"10s:1h"})
			s, err := open("test", c, rs, sinks.AsyncConfig{QueuePoints: 10_000_000, BatchPoints: 500}, zap.NewNop(), clk.Now)
			if err != nil {
				b.Fatal(err)
			}
			batch := make([]sinks.Point, 1000)
			for i := range batch {
				batch[i] = sinkstest.Point(fmt.Sprintf("servers.host%03d.cpu.metric%d", i/100, i%100), 10, t0, float64(i)*0.25)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.Write(batch)
			}
			if err := s.Close(context.Background()); err != nil { // drained: timed too
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "points/s")
			if st := s.Stats(); st.Dropped != 0 {
				b.Fatalf("stats %+v: points dropped", st)
			}
		})
	}
}
