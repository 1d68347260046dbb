package sinks

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// gateWriter stores batches, blocking while its gate is held and failing
// while fail is set.
type gateWriter struct {
	gate sync.Mutex
	mu   sync.Mutex
	got  []Point
	fail bool
}

func (w *gateWriter) WriteBatch(ctx context.Context, pts []Point) error {
	w.gate.Lock()
	defer w.gate.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail {
		return errors.New("storage down")
	}
	w.got = append(w.got, pts...)
	return nil
}

func pts(from, n int) []Point {
	out := make([]Point, n)
	for i := range out {
		out[i] = Point{Path: "p", Resolution: 1, Start: int64(from + i), Count: 1}
	}
	return out
}

func TestAsyncShedsOldestWhenStorageStalls(t *testing.T) {
	w := &gateWriter{}
	w.gate.Lock() // storage stalls
	a := NewAsync(w, AsyncConfig{QueuePoints: 10, BatchPoints: 5}, zap.NewNop())
	a.Write(pts(0, 5)) // taken by the writer, which blocks in WriteBatch
	for a.Stats().Queued != 0 {
		time.Sleep(time.Millisecond) // the writer takes the first batch; poll on its state
	}
	done := make(chan struct{})
	go func() { a.Write(pts(5, 30)); close(done) }()
	<-done // Write did not block on the stalled storage
	if s := a.Stats(); s.Queued != 10 || s.Dropped != 20 {
		t.Fatalf("stats %+v, want 10 queued and 20 dropped", s)
	}
	w.gate.Unlock()
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := a.Stats()
	if s.Written != 15 || s.Dropped != 20 || s.Queued != 0 {
		t.Fatalf("stats %+v, want 15 written, 20 dropped", s)
	}
	// The newest points were kept: 0-4 (first batch), then 25-34.
	for i, p := range w.got {
		want := int64(i)
		if i >= 5 {
			want = int64(20 + i)
		}
		if p.Start != want {
			t.Fatalf("point %d has start %d, want %d", i, p.Start, want)
		}
	}
}

func TestAsyncRetriesThenDrops(t *testing.T) {
	w := &gateWriter{fail: true}
	a := NewAsync(w, AsyncConfig{QueuePoints: 100, BatchPoints: 100, Retries: 2, RetryWait: time.Millisecond}, zap.NewNop())
	a.Write(pts(0, 3))
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().Dropped != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the failing batch was not dropped", a.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if s := a.Stats(); s.Errors != 3 {
		t.Fatalf("stats %+v, want 3 errors (1 try + 2 retries)", s)
	}
	w.mu.Lock()
	w.fail = false
	w.mu.Unlock()
	a.Write(pts(3, 2))
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.Written != 2 {
		t.Fatalf("stats %+v, want 2 written after storage came back", s)
	}
}

func TestAsyncCloseCountsWhatItCannotWrite(t *testing.T) {
	w := &gateWriter{}
	w.gate.Lock()
	a := NewAsync(w, AsyncConfig{QueuePoints: 100, BatchPoints: 4, Timeout: time.Hour}, zap.NewNop())
	a.Write(pts(0, 10))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time left to drain
	go func() {
		for a.Stats().Queued > 6 {
			time.Sleep(time.Millisecond)
		}
		w.gate.Unlock() // let the first, blocked batch finish
	}()
	if err := a.Close(ctx); err == nil {
		t.Fatal("Close with an expired context reported nothing left behind")
	}
	s := a.Stats()
	if s.Written+s.Dropped != 10 || s.Dropped == 0 {
		t.Fatalf("stats %+v: every point must be written or counted", s)
	}
	a.Write(pts(10, 1))
	if a.Stats().Dropped != s.Dropped+1 {
		t.Fatal("a write after Close was not counted")
	}
}
