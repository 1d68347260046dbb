package backend

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// upSeries returns the ringrelay_backend_up series that exist, by backend.
func upSeries(t testing.TB, m *Metrics) map[string]float64 {
	t.Helper()
	return collect(t, m.up, func(l map[string]string) string { return l["backend"] })
}

// droppedByBackend returns the lines_dropped_total series that exist, keyed
// "backend reason".
func droppedByBackend(t testing.TB, m *Metrics) map[string]float64 {
	t.Helper()
	return collect(t, m.dropped, func(l map[string]string) string { return l["backend"] + " " + l["reason"] })
}

func collect(t testing.TB, c prometheus.Collector, key func(map[string]string) string) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	go func() { c.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for pm := range ch {
		var d dto.Metric
		if err := pm.Write(&d); err != nil {
			t.Fatal(err)
		}
		l := map[string]string{}
		for _, lp := range d.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		v := d.GetGauge().GetValue()
		if d.Counter != nil {
			v = d.GetCounter().GetValue()
		}
		out[key(l)] = v
	}
	return out
}

// TestUpExactWhileBackendsOverlap: a backend and its replacement (same
// pool and server) share one up series, which is 1 while either is
// connected, whichever of them closes first.
func TestUpExactWhileBackendsOverlap(t *testing.T) {
	for _, closeFirst := range []string{"old", "replacement"} {
		t.Run("close "+closeFirst, func(t *testing.T) {
			s := newSink(t, "tcp", "127.0.0.1:0")
			srv := s.server().String()
			m := NewMetrics(nil)
			old, oldChanged := newWatched(Options{Config: testConfig(), Server: s.server(), Pool: "p", Metrics: m})
			defer closeNow(t, old)
			waitFor(t, "the old backend up", 5*time.Second, oldChanged, func() bool { return old.Stats().Up })
			repl, replChanged := newWatched(Options{Config: testConfig(), Server: s.server(), Pool: "p", Metrics: m})
			defer closeNow(t, repl)
			waitFor(t, "the replacement up", 5*time.Second, replChanged, func() bool { return repl.Stats().Up })
			if got := upSeries(t, m); !maps.Equal(got, map[string]float64{srv: 1}) {
				t.Fatalf("two connected backends to %s: up series %v, want one at 1", srv, got)
			}

			gone, survivor, changed := old, repl, replChanged
			if closeFirst == "replacement" {
				gone, survivor, changed = repl, old, oldChanged
			}
			closeNow(t, gone)
			if got := upSeries(t, m); !maps.Equal(got, map[string]float64{srv: 1}) {
				t.Fatalf("%s closed, the other still connected: up series %v, want one at 1", closeFirst, got)
			}

			// The survivor loses its connection: 0. It notices on a write.
			s.kill()
			waitFor(t, "the survivor to notice the backend died", 10*time.Second, changed, func() bool {
				if !survivor.Stats().Up {
					return true
				}
				survivor.Enqueue([]byte("x 1 1\n"), 1)
				return false
			})
			if got := upSeries(t, m); !maps.Equal(got, map[string]float64{srv: 0}) {
				t.Fatalf("the only live backend down: up series %v, want one at 0", got)
			}
			s.restart()
			waitFor(t, "the survivor to reconnect", 10*time.Second, changed, func() bool { return survivor.Stats().Up })
			if got := upSeries(t, m); !maps.Equal(got, map[string]float64{srv: 1}) {
				t.Fatalf("the survivor reconnected: up series %v, want one at 1", got)
			}
			closeNow(t, survivor)
			if got := upSeries(t, m); len(got) != 0 {
				t.Fatalf("both closed: up series %v, want none", got)
			}
		})
	}
}

// fakeClock is the Metrics clock in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClockedMetrics(reg prometheus.Registerer) (*Metrics, *fakeClock) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := NewMetrics(reg)
	m.now = clock.now
	return m, clock
}

// departWithLoss builds a backend to a dead address, queues lines lines
// and closes it at once, so that it leaves a backend_gone drop counter of
// lines.
func departWithLoss(t *testing.T, m *Metrics, lines int) *Backend {
	t.Helper()
	b := New(Options{Config: testConfig(), Server: serverFor(t, "tcp", closedPort(t)), Pool: "p", Metrics: m})
	if !b.Enqueue(bytes.Repeat([]byte("gone 1 1\n"), lines), lines) {
		t.Fatal("Enqueue into an empty queue = false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.CloseReason(ctx, ReasonBackendGone)
	return b
}

func TestDepartedDropCountersExpire(t *testing.T) {
	m, clock := newClockedMetrics(nil)
	b := departWithLoss(t, m, 3)
	srv := b.Server().String()
	want := map[string]float64{srv + " backend_gone": 3}
	if got := droppedByBackend(t, m); !maps.Equal(got, want) {
		t.Fatalf("just departed: drop series %v, want %v", got, want)
	}
	clock.advance(DefaultDepartedRetention - time.Second)
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); !maps.Equal(got, want) {
		t.Fatalf("departed %s ago: drop series %v, want %v kept", DefaultDepartedRetention-time.Second, got, want)
	}
	// A late drop counts and restarts the retention.
	b.Enqueue([]byte("late 1 1\nlate 2 2\n"), 2)
	want[srv+" backend_gone"] = 5
	clock.advance(DefaultDepartedRetention - time.Second)
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); !maps.Equal(got, want) {
		t.Fatalf("late drop %s ago: drop series %v, want %v kept", DefaultDepartedRetention-time.Second, got, want)
	}
	clock.advance(time.Second)
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); len(got) != 0 {
		t.Fatalf("late drop %s ago: drop series %v, want none", DefaultDepartedRetention, got)
	}
	// Later still, a late drop re-creates the series, kept for the retention.
	b.Enqueue([]byte("later 1 1\n"), 1)
	want = map[string]float64{srv + " backend_gone": 1}
	clock.advance(DefaultDepartedRetention - time.Second)
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); !maps.Equal(got, want) {
		t.Fatalf("re-created by a late drop: drop series %v, want %v", got, want)
	}
	clock.advance(time.Second)
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); len(got) != 0 {
		t.Fatalf("re-created series past its retention: %v, want none", got)
	}
}

func TestDepartedDropCountersCapped(t *testing.T) {
	m, clock := newClockedMetrics(nil)
	m.SetMaxDeparted(3)
	var srvs []string
	for i := range 5 {
		b := departWithLoss(t, m, i+1)
		srvs = append(srvs, b.Server().String())
		clock.advance(time.Second)
	}
	want := map[string]float64{}
	for i := 2; i < 5; i++ { // the 3 latest
		want[srvs[i]+" backend_gone"] = float64(i + 1)
	}
	if got := droppedByBackend(t, m); !maps.Equal(got, want) {
		t.Fatalf("5 departed backends, at most 3 kept: drop series %v, want the latest %v", got, want)
	}
	m.SetDepartedRetention(time.Minute)
	clock.advance(time.Minute - 2*time.Second) // the last two departed 60s and 59s ago
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); len(got) != 1 || got[srvs[4]+" backend_gone"] != 5 {
		t.Fatalf("retention 1m: drop series %v, want only %s's", got, srvs[4])
	}
}

// TestReturningBackendKeepsItsCounters: a departed backend that comes back
// before its retention is over has live drop counters again (never expired
// while live), which go on from their old values and are kept again when it
// leaves.
func TestReturningBackendKeepsItsCounters(t *testing.T) {
	m, clock := newClockedMetrics(nil)
	first := departWithLoss(t, m, 4)
	again := New(Options{Config: testConfig(), Server: first.Server(), Pool: "p", Metrics: m})
	srv := first.Server().String()
	clock.advance(2 * DefaultDepartedRetention)
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); got[srv+" backend_gone"] != 4 {
		t.Fatalf("back before its retention ended, then live for 2x the retention: drop series %v, want backend_gone=4 kept", got)
	}
	again.Enqueue([]byte("a 1 1\n"), 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	again.CloseReason(ctx, ReasonBackendGone)
	want := map[string]float64{srv + " backend_gone": 5}
	if got := droppedByBackend(t, m); !maps.Equal(got, want) {
		t.Fatalf("left again: drop series %v, want %v", got, want)
	}
	clock.advance(DefaultDepartedRetention)
	m.ExpireDeparted()
	if got := droppedByBackend(t, m); len(got) != 0 {
		t.Fatalf("left again, retention over: drop series %v, want none", got)
	}
}

// TestScrapeExpiresDeparted: a scrape never shows a departed series past
// its retention, even if nothing called ExpireDeparted.
func TestScrapeExpiresDeparted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, clock := newClockedMetrics(reg)
	departWithLoss(t, m, 2)
	const name = "ringrelay_backend_lines_dropped_total"
	if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
		t.Fatalf("scrape just after departure: %d %s series (err %v), want 1", n, name, err)
	}
	clock.advance(DefaultDepartedRetention)
	if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
		t.Fatalf("scrape after the retention: %d %s series (err %v), want 0", n, name, err)
	}
	if !strings.Contains(fmt.Sprint(m.dropped.WithLabelValues("a", "b", "c").Desc()), ReasonGlobalQueueFull) {
		t.Errorf("the help of %s does not list %s", name, ReasonGlobalQueueFull)
	}
}
