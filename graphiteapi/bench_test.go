package graphiteapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/sinks"
	"ringrelay/sinks/memory"
)

// BenchmarkRender100x8640 renders 100 series × one day at 10 s (8,640
// points each) as JSON through HTTP: the goal is 100 ms p99.
func BenchmarkRender100x8640(b *testing.B) {
	rets, _ := sinks.ParseTimes(sinks.DefaultTimes())
	st, err := memory.Open("bench", memory.DefaultConfig(), rets, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	now := time.Now().Unix() / 10 * 10
	for s := range 100 {
		pts := make([]sinks.Point, 0, 8640)
		for i := range int64(8640) {
			v := float64(i % 97)
			pts = append(pts, sinks.Point{Path: fmt.Sprintf("bench.host%03d.cpu", s), Resolution: 10, Start: now - 86400 + 10*i, Count: 1, Sum: v, Min: v, Max: v, Last: v})
		}
		st.Write(pts)
	}
	srv := httptest.NewServer(New(st, DefaultConfig(), zap.NewNop()))
	defer srv.Close()
	url := fmt.Sprintf("%s/render?target=bench.*.cpu&format=json&from=%d&until=%d", srv.URL, now-86400, now)
	b.ReportAllocs()
	var lat latencies
	for b.Loop() {
		t0 := time.Now()
		resp, err := http.Get(url)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("render: %v %v", err, resp)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	lat.report(b)
}

// latencies are per-request times, reported as p50 and p99 (ms).
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	slices.Sort(l)
	at := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))]) / 1e6 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkFind1M: /metrics/find one level under a prefix, and a wildcard
// in the middle, over 1,000,000 paths in the memory sink (the goal:
// 50 ms p99). Run by hand: -bench Find1M (about 1 GiB of memory).
func BenchmarkFind1M(b *testing.B) {
	rets, _ := sinks.ParseTimes([]string{"10s:1h"})
	c := memory.DefaultConfig()
	c.MaxSeries = 1_000_000
	st, err := memory.Open("bench", c, rets, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	now := time.Now().Unix() / 10 * 10
	pts := make([]sinks.Point, 0, 10_000)
	for i := range 1_000_000 {
		pts = append(pts, sinks.Point{Path: fmt.Sprintf("dc%d.host%05d.metric%02d", i%10, i/100%10000, i%100), Resolution: 10, Start: now, Count: 1, Sum: 1, Min: 1, Max: 1, Last: 1})
		if len(pts) == cap(pts) {
			st.Write(pts)
			pts = pts[:0]
		}
	}
	api := New(st, DefaultConfig(), zap.NewNop())
	for _, q := range []string{"dc3.*", "dc3.host0012*.*", "dc3.*.metric07"} {
		b.Run(q, func(b *testing.B) {
			var lat latencies
			for b.Loop() {
				t0 := time.Now()
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/find?query="+q, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("find: %d %s", rec.Code, rec.Body)
				}
				lat = append(lat, time.Since(t0))
			}
			lat.report(b)
		})
	}
}

// BenchmarkFind runs a treejson find one level under 100,000 paths.
func BenchmarkFind(b *testing.B) {
	rets, _ := sinks.ParseTimes(sinks.DefaultTimes())
	c := memory.DefaultConfig()
	st, err := memory.Open("bench", c, rets, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	now := time.Now().Unix() / 10 * 10
	pts := make([]sinks.Point, 0, 100_000)
	for i := range 100_000 {
		pts = append(pts, sinks.Point{Path: fmt.Sprintf("dc%d.host%04d.metric%02d", i%10, i/100%1000, i%100), Resolution: 10, Start: now, Count: 1, Sum: 1, Min: 1, Max: 1, Last: 1})
	}
	st.Write(pts)
	api := New(st, DefaultConfig(), zap.NewNop())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/find?query=dc3.host01*.*", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("find: %d %s", rec.Code, rec.Body)
		}
	}
}
