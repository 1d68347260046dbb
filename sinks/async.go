package sinks

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// BatchWriter writes points to storage. An error means the batch was not
// stored and may be tried again (writes are upserts: trying twice is
// harmless).
type BatchWriter interface {
	WriteBatch(ctx context.Context, pts []Point) error
}

// AsyncConfig bounds an Async queue.
type AsyncConfig struct {
	QueuePoints int           // points held at most; beyond it the oldest are shed (counted)
	BatchPoints int           // points per WriteBatch at most
	Timeout     time.Duration // per WriteBatch
	Retries     int           // attempts after the first before a batch is dropped (counted)
	RetryWait   time.Duration // first wait after a failure; doubles up to 30 s
}

// Async puts a bounded queue and one writer goroutine in front of a
// BatchWriter, so that Write never waits for storage: when storage falls
// behind, the queue sheds its oldest points and counts them as dropped.
type Async struct {
	w   BatchWriter
	cfg AsyncConfig
	log *zap.Logger

	mu      sync.Mutex
	q       []Point // FIFO; q[head:] is waiting
	head    int
	closed  bool
	lost    bool // points were dropped while closing
	st      Stats
	wake    chan struct{} // 1-buffered: the queue got points
	stop    chan struct{} // closed by Close
	done    chan struct{} // the writer goroutine ended
	drainBy context.Context
}

// NewAsync starts the writer goroutine; Close stops it.
func NewAsync(w BatchWriter, cfg AsyncConfig, log *zap.Logger) *Async {
	if cfg.QueuePoints < 1 {
		cfg.QueuePoints = 1
	}
	if cfg.BatchPoints < 1 {
		cfg.BatchPoints = 500
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 100 * time.Millisecond
	}
	a := &Async{w: w, cfg: cfg, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

// Write queues copies of pts; never blocks on storage.
func (a *Async) Write(pts []Point) {
	a.mu.Lock()
	if a.closed {
		a.st.Dropped += uint64(len(pts))
		a.mu.Unlock()
		return
	}
	a.q = append(a.q, pts...)
	if over := len(a.q) - a.head - a.cfg.QueuePoints; over > 0 {
		a.head += over
		a.st.Dropped += uint64(over)
	}
	if a.head > len(a.q)/2 && a.head > 1024 { // compact
		n := copy(a.q, a.q[a.head:])
		clear(a.q[n:])
		a.q, a.head = a.q[:n], 0
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counts, Queued included.
func (a *Async) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st
	s.Queued = len(a.q) - a.head
	return s
}

// Close writes what is queued while ctx allows, counts the rest as
// dropped, and stops the writer. Idempotent.
func (a *Async) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return nil
	}
	a.closed = true
	a.drainBy = ctx
	a.mu.Unlock()
	close(a.stop)
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.q) - a.head; n > 0 {
		a.st.Dropped += uint64(n)
		a.q, a.head = nil, 0
		a.lost = true
	}
	if a.lost {
		return errors.New("sink closed before every queued point was written (the rest is counted as dropped)")
	}
	return nil
}

// take removes up to BatchPoints from the queue (copied out).
func (a *Async) take(buf []Point) []Point {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := min(len(a.q)-a.head, a.cfg.BatchPoints)
	buf = append(buf[:0], a.q[a.head:a.head+n]...)
	clear(a.q[a.head : a.head+n])
	a.head += n
	if a.head == len(a.q) {
		a.q, a.head = a.q[:0], 0
	}
	return buf
}

func (a *Async) run() {
	defer close(a.done)
	var batch []Point
	stopping := false
	for {
		if !stopping {
			select {
			case <-a.stop:
				stopping = true
			default:
			}
		}
		batch = a.take(batch)
		if len(batch) == 0 {
			if stopping {
				return
			}
			select {
			case <-a.wake:
			case <-a.stop:
				stopping = true
			}
			continue
		}
		ctx := context.Background()
		if stopping {
			ctx = a.drainBy
			if ctx.Err() != nil {
				a.mu.Lock()
				a.st.Dropped += uint64(len(batch))
				a.lost = true
				a.mu.Unlock()
				return // Close counts what is left in the queue
			}
		}
		if !a.write(ctx, batch, &stopping) {
			a.mu.Lock()
			a.st.Dropped += uint64(len(batch))
			a.lost = a.lost || stopping
			a.mu.Unlock()
			if stopping && ctx.Err() != nil {
				return // Close counts what is left
			}
		}
	}
}

// write tries a batch, with retries; false when it was given up.
func (a *Async) write(ctx context.Context, batch []Point, stopping *bool) bool {
	wait := a.cfg.RetryWait
	for attempt := 0; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
		err := a.w.WriteBatch(wctx, batch)
		cancel()
		if err == nil {
			a.mu.Lock()
			a.st.Written += uint64(len(batch))
			a.mu.Unlock()
			return true
		}
		a.mu.Lock()
		a.st.Errors++
		a.mu.Unlock()
		if attempt >= a.cfg.Retries || ctx.Err() != nil {
			a.log.Warn("sink write failed; batch dropped", zap.Int("points", len(batch)), zap.Int("attempts", attempt+1), zap.Error(err))
			return false
		}
		a.log.Info("sink write failed; retrying", zap.Int("points", len(batch)), zap.Duration("in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-a.stop:
			t.Stop()
			*stopping = true
			ctx = a.drainBy
		case <-ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, 30*time.Second)
	}
}
