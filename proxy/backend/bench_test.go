package backend

import (
	"bytes"
	"context"
	"ringrelay/config"
	"sync"
	"testing"
	"time"
)

// benchLines is about 16 KiB of graphite lines of about 70 bytes.
func benchLines(tb testing.TB) ([]byte, int) {
	var p []byte
	for i := 0; len(p) < 16<<10-80; i++ {
		p = append(p, lineSet("servers.fra2.web.web-00042.cpu.cpu3", i, i+1)...)
	}
	return p, bytes.Count(p, []byte{'\n'})
}

// BenchmarkEnqueue16KiB measures the producer side alone: Enqueue of a
// 16 KiB batch into a backend whose writer is parked (down, long backoff);
// the queue is emptied off the clock every 100 batches, as the writer
// would, so chunks are recycled as in steady state.
func BenchmarkEnqueue16KiB(b *testing.B) { benchEnqueue(b, nil) }

// BenchmarkEnqueue16KiBBudget is BenchmarkEnqueue16KiB drawing on a
// (large) global Budget.
func BenchmarkEnqueue16KiBBudget(b *testing.B) { benchEnqueue(b, NewBudget(1<<40, nil)) }

func benchEnqueue(b *testing.B, budget *Budget) {
	cfg := DefaultConfig()
	cfg.QueueBytes = 1 << 30
	cfg.ReconnectMin.Duration, cfg.ReconnectMax.Duration = time.Hour, time.Hour
	be, changed := newWatched(Options{Config: cfg, Server: serverFor(b, "tcp", closedPort(b)), Pool: "bench", Budget: budget})
	defer closeExpired(be)
	waitFor(b, "the writer to park", 5*time.Second, changed, func() bool { return be.Stats().DialErrors > 0 })
	batch, n := benchLines(b)
	timer := time.NewTimer(time.Hour)
	var taken []*chunk
	drain := func() {
		taken, _, _ = be.take(taken[:0], timer, 0)
		be.recycle(taken, 0)
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !be.Enqueue(batch, n) {
			b.Fatal("Enqueue dropped")
		}
		if i++; i%100 == 0 {
			b.StopTimer()
			drain()
			b.StartTimer()
		}
	}
}

// BenchmarkEnqueue16KiBParallel is Enqueue from every P at once into one
// backend (the listener goroutines sharing a backend), producer side
// alone; whoever finds the 2 MiB queue full empties it, as the writer would.
func BenchmarkEnqueue16KiBParallel(b *testing.B) { benchEnqueueParallel(b, nil) }

// BenchmarkEnqueue16KiBParallelBudget is BenchmarkEnqueue16KiBParallel
// drawing on a (large) global Budget.
func BenchmarkEnqueue16KiBParallelBudget(b *testing.B) {
	benchEnqueueParallel(b, NewBudget(1<<40, nil))
}

func benchEnqueueParallel(b *testing.B, budget *Budget) {
	cfg := DefaultConfig()
	cfg.QueueBytes = 2 << 20
	cfg.ReconnectMin.Duration, cfg.ReconnectMax.Duration = time.Hour, time.Hour
	be, changed := newWatched(Options{Config: cfg, Server: serverFor(b, "tcp", closedPort(b)), Pool: "bench", Budget: budget})
	defer closeExpired(be)
	waitFor(b, "the writer to park", 5*time.Second, changed, func() bool { return be.Stats().DialErrors > 0 })
	batch, n := benchLines(b)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.SetParallelism(4)
	var mu sync.Mutex
	timer := time.NewTimer(time.Hour)
	var taken []*chunk
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !be.Enqueue(batch, n) {
				// Full: empty it as the writer would, and go on.
				mu.Lock()
				be.mu.Lock()
				queued := len(be.chunks) > 0
				be.mu.Unlock()
				if queued { // else another goroutine just emptied it
					taken, _, _ = be.take(taken[:0], timer, 0)
					be.recycle(taken, 0)
				}
				mu.Unlock()
			}
		}
	})
}

// BenchmarkEndToEnd measures lines/s through one backend to a loopback sink
// that counts lines: enqueue in 16 KiB batches (retrying when the queue is
// full), until the sink has received them all; for several batch_bytes.
func BenchmarkEndToEnd(b *testing.B) {
	for _, bs := range []config.ByteSize{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		b.Run("batch_bytes="+bs.String(), func(b *testing.B) {
			s := newSink(b, "tcp", "127.0.0.1:0")
			s.discard = true
			cfg := DefaultConfig()
			cfg.BatchBytes = bs
			be, changed := newWatched(Options{Config: cfg, Server: s.server(), Pool: "bench"})
			defer closeNow(b, be)
			batch, n := benchLines(b)
			waitFor(b, "connected", 5*time.Second, changed, func() bool { return be.Stats().Up })
			full := time.NewTimer(time.Hour)
			full.Stop()
			const batches = 2000
			b.SetBytes(int64(len(batch)) * batches)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			total := 0
			for b.Loop() {
				for range batches {
					for !be.Enqueue(batch, n) {
						// Full: wait for the writer to make room.
						full.Reset(time.Minute)
						select {
						case <-changed:
						case <-full.C:
							b.Fatal("the queue stayed full for a minute")
						}
						full.Stop()
					}
					total += n
				}
				s.waitLines(total, time.Minute)
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "lines/s")
			b.ReportMetric(float64(len(batch))/float64(n), "bytes/line")
		})
	}
}

// closeExpired closes without draining (benchmarks leave lines queued).
func closeExpired(be *Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	be.Close(ctx)
}
