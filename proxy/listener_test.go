package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// waitCounter polls until get() reaches want or the deadline passes, and
// returns the last value (there is no event to wait on for a counter).
func waitCounter(get func() float64, want float64) float64 {
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := get()
		if v >= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestShutdownEndsOpenHTTPStream: a client streaming lines in a chunked POST
// that never ends must not hold Shutdown (SIGTERM, SIGHUP reload) forever:
// the listener ends the request as it ends TCP connections, and the lines
// already read are delivered.
func TestShutdownEndsOpenHTTPStream(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	cfg := `
[admin]
listen = ""

[[listeners]]
name = "http"
listen = "http://127.0.0.1:0"
format = "graphite"
pool = "carbon"
` + poolTOML("carbon", "carbon_ch", 1, s.addr)
	r := startRelay(t, cfg)
	c := dial(t, "tcp", r.ListenerAddr("http"))
	const first = "stream.a 1 1\n"
	send(t, c, "POST / HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n"+fmt.Sprintf("%x\r\n%s\r\n", len(first), first))
	in := func() float64 { return testutil.ToFloat64(r.metrics.linesIn.WithLabelValues("http")) }
	if got := waitCounter(in, 1); got != 1 {
		t.Fatalf("http listener received %v lines of the open stream, want 1", got)
	}
	done := make(chan error, 1)
	go func() { done <- r.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		c.Close() // let Shutdown and the test end
		<-done
		t.Fatal("Shutdown still waiting on an open HTTP POST after 10s")
	}
	if got := s.waitLines(t, 1); len(got) != 1 || got[0] != strings.TrimSuffix(first, "\n") {
		t.Errorf("sink got %s, want the streamed line %q", quoteList(got), strings.TrimSuffix(first, "\n"))
	}
	// The relay ended the request: the client sees an answer and EOF (or a
	// reset), not a connection left open.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the client's connection was still open 5s after Shutdown returned")
	}
}

// TestUnixListenerLeavesOthersSocketsAlone: a relay must not unlink a unix
// socket another process is serving on, neither when binding (only a stale
// socket, which nobody answers on, is replaced) nor when it stops a listener
// it never bound (Start failed on an earlier listener).
func TestUnixListenerLeavesOthersSocketsAlone(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name      string
		firstTCP  string // a tcp listener before the unix one
		wantStart bool
	}{
		{"unix listener binds over a live socket", "", false},
		{"start fails before the unix listener", busy.Addr().String(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := t.TempDir() + "/relay.sock"
			other, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			cfg := "[admin]\nlisten = \"\"\n"
			if tc.firstTCP != "" {
				cfg += "[[listeners]]\nname = \"tcp\"\nlisten = \"tcp://" + tc.firstTCP + "\"\npool = \"carbon\"\n"
			}
			cfg += "[[listeners]]\nname = \"unix\"\nlisten = \"unix://" + sock + "\"\npool = \"carbon\"\n" + poolTOML("carbon", "carbon_ch", 1, s.addr)
			lc, err := LoadConfig([]byte(cfg))
			if err != nil {
				t.Fatal(err)
			}
			r, err := New(Options{Config: lc})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Start()
			_ = r.Shutdown(context.Background())
			if (err == nil) != tc.wantStart {
				t.Errorf("Start = %v, want success %v", err, tc.wantStart)
			}
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatalf("the other process's socket %s no longer answers: %v", sock, err)
			}
			c.Close()
		})
	}
}

// TestUnixListenerReplacesStaleSocket: the socket file a relay that died left
// behind (nobody listens on it) does not stop the next relay from binding.
func TestUnixListenerReplacesStaleSocket(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	sock := t.TempDir() + "/relay.sock"
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	r := startRelay(t, "[admin]\nlisten = \"\"\n[[listeners]]\nname = \"unix\"\nlisten = \"unix://"+sock+"\"\npool = \"carbon\"\n"+poolTOML("carbon", "carbon_ch", 1, s.addr))
	send(t, dial(t, "unix", r.ListenerAddr("unix")), "stale.ok 1 1\n")
	if got := s.waitLines(t, 1); len(got) != 1 || got[0] != "stale.ok 1 1" {
		t.Errorf("sink got %s, want [stale.ok 1 1] through the rebound socket", quoteList(got))
	}
}
