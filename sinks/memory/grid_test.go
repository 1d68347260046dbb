package memory

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"ringrelay/aggregator"
	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// FetchGrid puts on the grid exactly what Fetch returns, reduced: for
// every reducer, aligned and unaligned grid starts, and bins past the
// retention hidden alike.
func TestFetchGridIsFetchReduced(t *testing.T) {
	clk := sinkstest.NewClock(t0 + 3600)
	s := openStore(t, DefaultConfig(), clk, "10s:1h", "1m:24h")
	var pts []sinks.Point
	for i := range int64(400) {
		if rand.IntN(4) == 0 {
			continue // gaps
		}
		v := rand.Float64()*100 - 50
		pts = append(pts, sinks.Point{Path: "a.b", Resolution: 10, Start: t0 + 10*i, Count: 1 + i%3, Sum: v * 2, Min: v - 1, Max: v + 1, Last: v})
	}
	s.Write(pts)
	for _, m := range []aggregator.Method{aggregator.MethodAvg, aggregator.MethodSum, aggregator.MethodMin, aggregator.MethodMax, aggregator.MethodCount} {
		for _, start := range []int64{t0 - 100, t0, t0 + 1200, t0 + 3590} {
			vals := make([]float64, 360)
			for i := range vals {
				vals[i] = math.NaN()
			}
			if err := s.FetchGrid(context.Background(), "a.b", 10, start, m, vals); err != nil {
				t.Fatal(err)
			}
			want := make([]float64, 360)
			for i := range want {
				want[i] = math.NaN()
			}
			got, err := s.Fetch(context.Background(), "a.b", 10, start, start+3600)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range got {
				want[(p.Start-start)/10] = sinks.Reduce(m, &p)
			}
			for i := range vals {
				if vals[i] != want[i] && !(math.IsNaN(vals[i]) && math.IsNaN(want[i])) {
					t.Fatalf("method %v, start %d: bin %d is %v on the grid, %v by Fetch", m, start, i, vals[i], want[i])
				}
			}
		}
	}
	if err := s.FetchGrid(context.Background(), "a.b", 7, t0, aggregator.MethodAvg, make([]float64, 3)); err == nil {
		t.Error("a resolution the store does not keep was read without an error")
	}
}
