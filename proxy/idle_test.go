package proxy

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// discardSink is a backend on loopback that reads and forgets (so that what
// it receives counts in no heap); it stops with the test.
func discardSink(t testing.TB) string { return discardSinkOn(t, "127.0.0.1:0") }

// discardSinkOn is discardSink listening on addr; it returns the bound
// address.
func discardSinkOn(t testing.TB, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// idleConnBudget is the live heap one idle client connection may hold: its line
// reader (64 KiB) and its dispatcher's key and line scratch (about 2 x
// max_line), with room for the runtime. Batches are not held between
// blocks, so it does not grow with the backends a connection wrote to.
const idleConnBudget = 160 << 10

// TestIdleConnectionsHoldNoBatchMemory: 500 connections each write to all
// 64 backends of a pool, then go idle. The heap they hold stays within
// idleConnBudget each (before batches were released between blocks, each
// kept 16 KiB per backend it ever wrote to: 1 MiB per connection here).
func TestIdleConnectionsHoldNoBatchMemory(t *testing.T) {
	const conns, backends = 500, 64
	servers := make([]string, backends)
	for i := range servers {
		servers[i] = discardSink(t)
	}
	r := startRelay(t, adminAndListener+poolTOML("carbon", "jump_fnv1a_ch", 1, servers...))
	// Keys that reach every backend.
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "idle.key%d 1 1\n", i)
	}
	payload := b.String()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for range conns {
		c := dial(t, "tcp", r.ListenerAddr("in"))
		send(t, c, payload)
	}
	want := float64(conns * 2000)
	waitFor(t, func() string {
		return fmt.Sprintf("%v of %v lines routed", sumMetric(t, r, "ringrelay_pool_lines_routed_total"), want)
	}, func() bool { return sumMetric(t, r, "ringrelay_pool_lines_routed_total") >= want })
	waitFor(t, func() string { return "backend queues never drained" }, func() bool {
		return sumMetric(t, r, "ringrelay_backend_queue_bytes") == 0
	})
	after := heap()
	per := (int64(after) - int64(before)) / conns
	t.Logf("live heap: %d MiB before, %d MiB with %d idle connections over %d backends: %d KiB per connection",
		before>>20, after>>20, conns, backends, per>>10)
	if per > idleConnBudget {
		t.Errorf("each idle connection holds %d KiB of heap, want at most %d KiB", per>>10, idleConnBudget>>10)
	}
}
