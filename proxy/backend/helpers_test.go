package backend

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"ringrelay/discovery"
)

// sink is a loopback stream server that keeps everything it receives.
type sink struct {
	t       testing.TB
	network string
	addr    string
	discard bool  // count only
	changed pulse // poked after each read

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	data  bytes.Buffer
	lines int
	bytes int64
	wg    sync.WaitGroup
}

// newSink listens on network ("tcp" or "unix") at addr ("127.0.0.1:0" or
// a socket path) and returns once it accepts.
func newSink(t testing.TB, network, addr string) *sink {
	t.Helper()
	s := &sink{t: t, network: network, conns: map[net.Conn]bool{}, changed: newPulse()}
	s.listen(addr)
	t.Cleanup(s.kill)
	return s
}

func (s *sink) listen(addr string) {
	s.t.Helper()
	ln, err := net.Listen(s.network, addr)
	if err != nil {
		s.t.Fatalf("failed to listen on %s %q: %v", s.network, addr, err)
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln {
				// Killed since Accept returned: kill did not see c.
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = true
			s.wg.Add(1) // while this goroutine still counts: not racing kill's Wait
			s.mu.Unlock()
			go s.read(c)
		}
	}()
}

func (s *sink) read(c net.Conn) {
	defer s.wg.Done()
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.mu.Lock()
			if !s.discard {
				s.data.Write(buf[:n])
			}
			s.lines += bytes.Count(buf[:n], []byte{'\n'})
			s.bytes += int64(n)
			s.mu.Unlock()
			s.changed.poke()
		}
		if err != nil {
			return
		}
	}
}

// kill closes the listener and every accepted connection, like a crashed
// backend, and waits for the sink's goroutines.
func (s *sink) kill() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// restart listens again on the same address.
func (s *sink) restart() { s.listen(s.addr) }

func (s *sink) server() discovery.Server {
	if s.network == "unix" {
		return discovery.Server{Proto: "unix", Host: s.addr}
	}
	return serverFor(s.t, "tcp", s.addr)
}

func serverFor(t testing.TB, proto, addr string) discovery.Server {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("bad address %q: %v", addr, err)
	}
	p, _ := strconv.Atoi(port)
	return discovery.Server{Proto: proto, Host: host, Port: p}
}

func (s *sink) snapshot() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.String(), s.lines
}

// waitLines waits until the sink has seen at least n lines, failing after
// timeout.
func (s *sink) waitLines(n int, timeout time.Duration) string {
	s.t.Helper()
	var data string
	waitFor(s.t, "lines at sink "+s.addr, timeout, s.changed, func() bool {
		var got int
		data, got = s.snapshot()
		return got >= n
	})
	return data
}

// pulse wakes a waiter after something changed. poke never blocks; a poke
// while nobody waits is kept for the next wait (at worst a needless
// re-check). One waiter at a time: two would steal each other's wake-ups.
type pulse chan struct{}

func newPulse() pulse { return make(pulse, 1) }

func (p pulse) poke() {
	select {
	case p <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds, re-checking it whenever p is poked (by
// whatever cond depends on: a backend's Options.onChange, a sink), and
// fails after timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, p pulse, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !cond() {
		select {
		case <-p:
		case <-timer.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// newWatched is New with a pulse poked by the backend's writer after each
// change (connect, failed dial, write, disconnect).
func newWatched(o Options) (*Backend, pulse) {
	p := newPulse()
	o.onChange = p.poke
	return New(o), p
}

// testConfig is a small, fast configuration for tests.
func testConfig() Config {
	c := DefaultConfig()
	c.BatchBytes = 4 << 10
	c.QueueBytes = 1 << 20
	c.ReconnectMin.Duration = 5 * time.Millisecond
	c.ReconnectMax.Duration = 20 * time.Millisecond
	c.DialTimeout.Duration = time.Second
	c.WriteTimeout.Duration = 2 * time.Second
	return c
}

func closeNow(t testing.TB, b *Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.Close(ctx)
}

// lineSet builds lines "<prefix>.<i> <i> 1700000000\n" for i in [from,to).
func lineSet(prefix string, from, to int) []byte {
	var b []byte
	for i := from; i < to; i++ {
		b = append(b, prefix...)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, " 1700000000\n"...)
	}
	return b
}

// fakeConn is a net.Conn whose Write accepts up to budget bytes and then
// fails: the seam to test torn writes, which loopback sockets cannot
// produce on demand.
type fakeConn struct {
	net.Conn
	budget int
	got    []byte
}

var _ net.Conn = (*fakeConn)(nil)

// Write is also what net.Buffers falls back to for a writev (one call per
// buffer), so the budget spans buffers.
func (f *fakeConn) Write(p []byte) (int, error) {
	n := min(len(p), f.budget)
	f.got = append(f.got, p[:n]...)
	f.budget -= n
	if n < len(p) {
		return n, errors.New("fake write failure")
	}
	return n, nil
}

func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (f *fakeConn) Close() error                     { return nil }
