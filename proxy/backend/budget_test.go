package backend

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestGlobalBudgetBoundsAllBackends: many backends, all down, enqueue
// concurrently into a small shared budget: the bytes queued over all of them
// never exceed it, every refused batch is counted as global_queue_full with
// its exact line count, and once the destination is back and drained the
// budget is all given back.
func TestGlobalBudgetBoundsAllBackends(t *testing.T) {
	const (
		backends   = 8
		perBackend = 12    // batches each
		batchLines = 10    // of 100 bytes
		limit      = 25000 // 25 batches of the 96 offered
	)
	s := newSink(t, "tcp", "127.0.0.1:0")
	s.kill() // down: everything queues
	m := NewMetrics(nil)
	g := NewBudget(limit, m)
	changed := newPulse()
	bs := make([]*Backend, backends)
	for i := range bs {
		cfg := testConfig() // 1 MiB per backend: only the budget refuses
		bs[i] = New(Options{Config: cfg, Server: s.server(), Pool: fmt.Sprintf("p%d", i), Metrics: m, Budget: g, onChange: changed.poke})
		defer closeExpired(bs[i]) // a failed test leaves them down and full
	}
	queued := func() (sum int64) {
		for _, b := range bs {
			sum += b.Stats().QueuedBytes
		}
		return sum
	}

	// While the destination is down the queues only grow, so a sum of
	// successive reads is at most the sum at the last read.
	stop := make(chan struct{})
	var (
		overs   int
		overMsg string
		monitor sync.WaitGroup
	)
	monitor.Go(func() {
		for {
			if q, u := queued(), g.Used(); q > limit || u > limit {
				if overs++; overs == 1 {
					overMsg = fmt.Sprintf("queued %d, used %d", q, u)
				}
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	refused := make([]int, backends) // lines
	var want bytes.Buffer            // what the sink must get, in any order of backends
	var wantMu sync.Mutex
	var producers sync.WaitGroup
	for i, b := range bs {
		producers.Go(func() {
			for j := range perBackend {
				// "p<i>.b<jj>." and 92 bytes: 100-byte lines.
				batch := bytes.Repeat([]byte(fmt.Sprintf("p%d.b%02d.%s\n", i, j, strings.Repeat("x", 92))), batchLines)
				if b.Enqueue(batch, batchLines) {
					wantMu.Lock()
					want.Write(batch)
					wantMu.Unlock()
				} else {
					refused[i] += batchLines
				}
			}
		})
	}
	producers.Wait()
	close(stop)
	monitor.Wait()
	if overs > 0 {
		t.Fatalf("budget of %d bytes over %d backends exceeded %d times, first: %s", limit, backends, overs, overMsg)
	}
	if q, u := queued(), g.Used(); q != limit || u != limit {
		t.Fatalf("after offering %d batches of 1000 bytes to a %d-byte budget: queued %d, Used() %d; want both %d", backends*perBackend, limit, q, u, limit)
	}
	totalRefused := 0
	for i, b := range bs {
		st := b.Stats()
		if st.LinesDropped[ReasonGlobalQueueFull] != uint64(refused[i]) || st.LinesDropped[ReasonQueueFull] != 0 {
			t.Errorf("backend %d: Stats().LinesDropped = %v, want global_queue_full=%d (the refused lines) and queue_full=0", i, st.LinesDropped, refused[i])
		}
		c := m.dropped.WithLabelValues(fmt.Sprintf("p%d", i), s.server().String(), ReasonGlobalQueueFull)
		if got := testutil.ToFloat64(c); got != float64(refused[i]) {
			t.Errorf("backend %d: lines_dropped_total{reason=global_queue_full} = %v, want %d", i, got, refused[i])
		}
		totalRefused += refused[i]
	}
	if wantRefused := (backends*perBackend - limit/1000) * batchLines; totalRefused != wantRefused {
		t.Errorf("%d lines refused over all backends, want %d", totalRefused, wantRefused)
	}
	if got := testutil.ToFloat64(m.globalBytes); got != limit {
		t.Errorf("ringrelay_backend_queue_global_bytes = %v, want %d", got, limit)
	}
	if got := testutil.ToFloat64(m.globalLimit); got != limit {
		t.Errorf("ringrelay_backend_queue_global_limit_bytes = %v, want %d", got, limit)
	}

	s.restart()
	got := s.waitLines(limit/100, 10*time.Second)
	waitFor(t, "the budget to be given back", 5*time.Second, changed, func() bool { return g.Used() == 0 })
	if len(got) != want.Len() || bytes.Count([]byte(got), []byte{'\n'}) != limit/100 {
		t.Fatalf("after the backend came back the sink got %d bytes, want the %d accepted", len(got), want.Len())
	}
	if q := queued(); q != 0 {
		t.Fatalf("after draining: queued %d bytes, want 0", q)
	}
	// The freed budget takes batches again.
	if !bs[0].Enqueue(bytes.Repeat([]byte("again 1 1\n"), 10), 10) {
		t.Fatal("Enqueue after the budget drained = false, want true")
	}
}

func TestBudgetSetLimitAndClose(t *testing.T) {
	srv := serverFor(t, "tcp", closedPort(t))
	g := NewBudget(3000, nil)
	b := New(Options{Config: testConfig(), Server: srv, Pool: "p", Budget: g})
	batch := bytes.Repeat([]byte(strings.Repeat("k", 99)+"\n"), 10) // 1000 bytes
	for i := range 3 {
		if !b.Enqueue(batch, 10) {
			t.Fatalf("Enqueue #%d into a 3000-byte budget = false, want true", i)
		}
	}
	// Lowering below what is held drops nothing queued, refuses new batches.
	g.SetLimit(1500)
	if b.Enqueue(batch, 10) {
		t.Fatal("Enqueue with 3000 bytes held and the limit lowered to 1500 = true, want false")
	}
	if st := b.Stats(); st.QueuedBytes != 3000 || g.Used() != 3000 || st.LinesDropped[ReasonGlobalQueueFull] != 10 {
		t.Fatalf("after lowering the limit: queued %d, used %d, dropped %v; want 3000, 3000, global_queue_full=10", st.QueuedBytes, g.Used(), st.LinesDropped)
	}
	g.SetLimit(0) // unlimited: still counted
	if !b.Enqueue(batch, 10) || g.Used() != 4000 || g.Limit() != 0 {
		t.Fatalf("unlimited budget: Used()=%d Limit()=%d, want 4000 and 0 after one more batch", g.Used(), g.Limit())
	}
	g.SetLimit(-5)
	if g.Limit() != 0 {
		t.Fatalf("SetLimit(-5): Limit() = %d, want 0 (unlimited)", g.Limit())
	}
	// Closing without draining gives the dropped bytes back.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.Close(ctx)
	if st := b.Stats(); g.Used() != 0 || st.LinesDropped[ReasonShutdown] != 40 {
		t.Fatalf("after Close with an expired ctx: Used()=%d, dropped %v; want 0 and shutdown=40", g.Used(), st.LinesDropped)
	}
}

func TestBudgetGaugesRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	g := NewBudget(1<<20, m)
	g.take(4096)
	want := `
# HELP ringrelay_backend_queue_global_bytes Bytes queued over all backends, counted against the global queue bound (0 without one).
# TYPE ringrelay_backend_queue_global_bytes gauge
ringrelay_backend_queue_global_bytes 4096
# HELP ringrelay_backend_queue_global_limit_bytes The global bound on bytes queued over all backends (0: unlimited).
# TYPE ringrelay_backend_queue_global_limit_bytes gauge
ringrelay_backend_queue_global_limit_bytes 1.048576e+06
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ringrelay_backend_queue_global_bytes", "ringrelay_backend_queue_global_limit_bytes"); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultMaxQueueBytes(t *testing.T) {
	const meminfo = "MemTotal:       16384000 kB\nMemFree:         1000 kB\n"
	cases := []struct {
		name   string
		cgroup string // "": unreadable
		mem    string // "": unreadable
		want   int64
	}{
		{"cgroup limit", "2147483648\n", meminfo, 2 << 30 / 4},
		{"cgroup max: MemTotal", "max\n", meminfo, 16384000 << 10 / 4},
		{"no cgroup: MemTotal", "", meminfo, 16384000 << 10 / 4},
		{"cgroup above MemTotal", "999999999999999\n", meminfo, 16384000 << 10 / 4},
		{"nothing readable", "", "", 1 << 30},
		{"garbage", "lots\n", "MemTotal: many kB\n", 1 << 30},
		{"no MemTotal line", "max\n", "MemFree: 5 kB\n", 1 << 30},
	}
	for _, tc := range cases {
		read := func(name string) ([]byte, error) {
			var s string
			switch name {
			case "/sys/fs/cgroup/memory.max":
				s = tc.cgroup
			case "/proc/meminfo":
				s = tc.mem
			default:
				t.Fatalf("read %q, want only the cgroup limit and meminfo", name)
			}
			if s == "" {
				return nil, fs.ErrNotExist
			}
			return []byte(s), nil
		}
		if got := defaultMaxQueueBytes(read); got != tc.want {
			t.Errorf("%s (memory.max %q, meminfo %q): got %d, want %d", tc.name, tc.cgroup, tc.mem, got, tc.want)
		}
	}
	if got := DefaultMaxQueueBytes(); got <= 0 {
		t.Errorf("DefaultMaxQueueBytes() on this machine = %d, want > 0", got)
	}
	if _, err := memTotal([]byte("MemTotal: 12 MB\n")); err == nil || !strings.Contains(err.Error(), `"12 MB"`) {
		t.Errorf("memTotal of %q: err %v, want one quoting the value", "MemTotal: 12 MB", err)
	}
}
