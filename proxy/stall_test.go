package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestStalledBackendShowsDegraded: a backend that accepts and never reads
// is marked stalled: its up gauge is 0 and /ops/status says so.
func TestStalledBackendShowsDegraded(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	accepted := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c // never read
		}
	}()
	live := startSink(t, "127.0.0.1:0")
	r := startRelay(t, adminAndListener+poolTOML("carbon", "fnv1a_ch", 1, live.addr, ln.Addr().String())+
		"write_timeout = \"200ms\"\nqueue_bytes = \"1MiB\"\n")
	c := dial(t, "tcp", r.ListenerAddr("in"))
	// /ops/status is 503 until both backends have connected (a loaded
	// machine takes a moment): only its text matters here.
	stalled := func() bool {
		resp, err := http.Get("http://" + r.AdminAddr().String() + "/ops/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "degraded: 1 connected but not reading")
	}
	for i := 0; !stalled(); i++ {
		var b strings.Builder
		for j := range 2000 {
			fmt.Fprintf(&b, "stall.key%d.%d 1 1\n", i, j)
		}
		send(t, c, b.String())
		for len(accepted) > 0 {
			held = append(held, <-accepted)
		}
		waitFor(t, func() string { return "lines not routed" }, func() bool {
			return sumMetric(t, r, "ringrelay_pool_lines_routed_total") >= float64((i+1)*2000)
		})
		if i > 2000 {
			t.Fatal("the never-reading backend was never marked stalled")
		}
	}
	if up := sumMetric(t, r, "ringrelay_backend_up", "backend="+ln.Addr().String()); up != 0 {
		t.Errorf("backend_up of the stalled backend = %v, want 0", up)
	}
}
