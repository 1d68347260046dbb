package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"ringrelay/discovery"
)

// TestShutdownBoundsRetiringBackends: a backend removed from the ring shortly
// before shutdown is still draining (for drain_on_remove); Shutdown must not
// wait for it longer than shutdown_timeout, and its leftovers are counted.
func TestShutdownBoundsRetiringBackends(t *testing.T) {
	live := startSink(t, "127.0.0.1:0")
	dead := startSink(t, "127.0.0.1:0")
	dead.stop() // refuses connections: its lines stay queued
	servers := []string{live.addr + "=a", dead.addr + "=b"}
	cfg, err := LoadConfig([]byte(adminAndListener + poolTOML("carbon", "carbon_ch", 1, servers...) + "drain_on_remove = \"1m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ShutdownTimeout.Duration = 200 * time.Millisecond
	r, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 200
	toDead := 0
	var b strings.Builder
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("k.%d", i)
		fmt.Fprintf(&b, "%s 1 1\n", key)
		if expected(t, "carbon_ch", 1, servers, key)[0] == servers[1] {
			toDead++
		}
	}
	if toDead == 0 {
		t.Fatal("no key goes to the dead member; the test needs some")
	}
	c := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, c, b.String())
	in := func() float64 { return testutil.ToFloat64(r.metrics.linesIn.WithLabelValues("in")) }
	if got := waitCounter(in, n); got != n {
		t.Fatalf("relay received %v lines, want %d", got, n)
	}
	p := r.Pool("carbon")
	gone := p.state.Load().backends[1]
	srv, _ := discovery.ParseServer(servers[1])
	p.Membership().Purge(srv) // gone starts draining for up to a minute

	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Shutdown(context.Background())
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown still waiting after 10s for a backend retired with drain_on_remove = 1m (shutdown_timeout 200ms)")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v, want about shutdown_timeout (200ms)", took)
	}
	st := gone.Stats()
	if got := st.LinesDropped["backend_gone"] + st.LinesDropped["shutdown"]; got != uint64(toDead) {
		t.Errorf("retired backend counted %v dropped lines, want its %d", st.LinesDropped, toDead)
	}
}

// TestBackendGoneDropsStayOnMetrics: the lines a removed backend could not
// deliver are counted as backend_gone on /metrics, and that count is still
// there to scrape after the backend has gone.
func TestBackendGoneDropsStayOnMetrics(t *testing.T) {
	live := startSink(t, "127.0.0.1:0")
	dead := startSink(t, "127.0.0.1:0")
	dead.stop()
	servers := []string{live.addr + "=a", dead.addr + "=b"}
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, servers...)+"drain_on_remove = \"10ms\"\n")
	const n = 200
	toDead := 0
	var b strings.Builder
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("k.%d", i)
		fmt.Fprintf(&b, "%s 1 1\n", key)
		if expected(t, "carbon_ch", 1, servers, key)[0] == servers[1] {
			toDead++
		}
	}
	c := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, c, b.String())
	in := func() float64 { return testutil.ToFloat64(r.metrics.linesIn.WithLabelValues("in")) }
	if got := waitCounter(in, n); got != n {
		t.Fatalf("relay received %v lines, want %d", got, n)
	}
	p := r.Pool("carbon")
	srv, _ := discovery.ParseServer(servers[1])
	p.Membership().Purge(srv)
	p.retire.Wait() // the removed backend has drained, counted and closed

	mfs, err := r.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := -1.0
	for _, mf := range mfs {
		if mf.GetName() != "ringrelay_backend_lines_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			lv := map[string]string{}
			for _, l := range m.GetLabel() {
				lv[l.GetName()] = l.GetValue()
			}
			if lv["backend"] == srv.String() && lv["reason"] == "backend_gone" {
				got = m.GetCounter().GetValue()
			}
		}
	}
	if got != float64(toDead) {
		t.Errorf("ringrelay_backend_lines_dropped_total{backend=%q,reason=\"backend_gone\"} = %v after removal (-1: no series), want %d", srv.String(), got, toDead)
	}
}
