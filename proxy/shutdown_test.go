package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestShutdownUnderLoadCountsEverything: clients write as fast as they can
// until the moment SIGTERM's Shutdown starts, one backend is down. Every
// line the clients wrote is read (the kernel's socket buffers included),
// then delivered or counted; the final log line and the last scrape (the
// admin API is still up when the counts are final) both have the counts.
func TestShutdownUnderLoadCountsEverything(t *testing.T) {
	up := startSink(t, "127.0.0.1:0")
	down := startSink(t, "127.0.0.1:0")
	downAddr := down.addr
	down.stop()
	cfg := loadConfigT(t, adminAndListener+poolTOML("carbon", "fnv1a_ch", 1, up.addr, downAddr)+"\n")
	cfg.ShutdownTimeout.Duration = 300 * time.Millisecond
	core, logs := observer.New(zap.InfoLevel)
	r, err := New(Options{Config: cfg, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	var lastScrape string
	adminURL := "http://" + r.AdminAddr().String() + "/metrics"
	r.beforeAdminClose = func() {
		resp, err := http.Get(adminURL)
		if err != nil {
			t.Errorf("scrape at the end of shutdown: %v", err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		lastScrape = string(b)
	}

	var sent atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for c := range 4 {
		conn := dial(t, "tcp", r.ListenerAddr("in"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for n := 0; !stop.Load(); {
				buf = buf[:0]
				for range 200 {
					buf = fmt.Appendf(buf, "c%d.k%d %d 1\n", c, n%1000, n)
					n++
				}
				if _, err := conn.Write(buf); err != nil {
					t.Errorf("client %d: %v", c, err)
					return
				}
				sent.Add(200)
			}
		}()
	}
	waitFor(t, func() string { return "no traffic" }, func() bool { return sent.Load() > 100_000 })
	stop.Store(true)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	final := logs.FilterMessage("relay stopped").All()
	if len(final) != 1 {
		t.Fatalf("%d 'relay stopped' log lines, want 1", len(final))
	}
	f := final[0].ContextMap()
	num := func(k string) int64 {
		v, _ := f[k].(uint64)
		return int64(v)
	}
	total := sent.Load()
	if got := num("received"); got != total {
		t.Errorf("final log: received %d, clients wrote %d (unread %d)", got, total, num("unread_bytes"))
	}
	// Sent means acknowledged by the sink's kernel; its reader may lag.
	waitFor(t, func() string { return fmt.Sprintf("sink read %d of %d sent lines", len(up.got()), num("sent")) },
		func() bool { return int64(len(up.got())) >= num("sent") })
	delivered := int64(len(up.got()))
	if got, want := num("sent"), delivered; got != want {
		t.Errorf("final log: sent %d, the live backend got %d", got, want)
	}
	var dropped int64
	for k := range f {
		if strings.HasPrefix(k, "backend_dropped.") {
			dropped += num(k)
		}
	}
	if got := num("sent") + dropped; got != total {
		t.Errorf("final log: sent %d + dropped %d = %d, want %d written: %v", num("sent"), dropped, got, total, f)
	}
	if num("backend_dropped.shutdown") == 0 {
		t.Error("the down backend's lines were not counted as shutdown drops")
	}
	want := fmt.Sprintf(`ringrelay_backend_lines_dropped_total{backend=%q,pool="carbon",reason="shutdown"} %d`, downAddr, num("backend_dropped.shutdown"))
	if !strings.Contains(lastScrape, want) {
		t.Errorf("the last scrape lacks the final shutdown drops %q", want)
	}
	t.Logf("clients wrote %d lines; delivered %d, dropped at shutdown %d", total, delivered, num("backend_dropped.shutdown"))
}
