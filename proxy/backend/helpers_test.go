package backend

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"ringrelay/discovery"
	"ringrelay/internal/testnet"
)

// sink is a loopback stream server that keeps everything it receives.
type sink struct {
	t       testing.TB
	network string
	addr    string
	discard bool  // count only
	changed pulse // poked after each read
	// Set by newHeldSink: the receive buffer asked for, and closed by
	// release (its readers read nothing before).
	rcvbuf int
	hold   chan struct{}

	mu      sync.Mutex
	ln      net.Listener
	unhold  func() // lets go of addr, held while killed (testnet.HoldPort)
	conns   map[net.Conn]bool
	data    bytes.Buffer
	lines   int
	bytes   int64
	streams []*stream // every connection accepted, in order
	reading int       // readers still running
	wg      sync.WaitGroup
}

// stream is what one accepted connection delivered.
type stream struct {
	rcvbuf int // the socket's SO_RCVBUF, as the kernel reports it
	data   bytes.Buffer
	err    error // what ended the reads
}

// newSink listens on network ("tcp" or "unix") at addr ("127.0.0.1:0" or
// a socket path) and returns once it accepts.
func newSink(t testing.TB, network, addr string) *sink {
	t.Helper()
	s := &sink{t: t, network: network, conns: map[net.Conn]bool{}, changed: newPulse()}
	s.listen(addr)
	t.Cleanup(s.close)
	return s
}

// close is the test's end: the sink dies and lets its port go.
func (s *sink) close() {
	s.kill()
	s.mu.Lock()
	if s.unhold != nil {
		s.unhold()
		s.unhold = nil
	}
	s.mu.Unlock()
}

// newHeldSink is a tcp sink that accepts connections and reads nothing
// until release, on sockets with a receive buffer of rcvbuf bytes (as
// SO_RCVBUF: the kernel doubles it); it keeps each connection's stream.
func newHeldSink(t testing.TB, rcvbuf int) *sink {
	t.Helper()
	s := &sink{t: t, network: "tcp", conns: map[net.Conn]bool{}, changed: newPulse(), rcvbuf: rcvbuf, hold: make(chan struct{})}
	s.listen("127.0.0.1:0")
	t.Cleanup(s.close)
	return s
}

// release lets the readers of a held sink read.
func (s *sink) release() { close(s.hold) }

func (s *sink) listen(addr string) {
	s.t.Helper()
	var lc net.ListenConfig
	if s.rcvbuf > 0 {
		// Before listen, so that accepted sockets inherit it.
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var err error
			if cerr := c.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, s.rcvbuf)
			}); cerr != nil {
				return cerr
			}
			return err
		}
	}
	s.mu.Lock()
	if s.unhold != nil {
		s.unhold() // the port is ours again, now to listen on
		s.unhold = nil
	}
	s.mu.Unlock()
	ln, err := lc.Listen(context.Background(), s.network, addr)
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
			st := &stream{rcvbuf: rcvbufOf(c)}
			s.streams = append(s.streams, st)
			s.reading++
			s.wg.Add(1) // while this goroutine still counts: not racing kill's Wait
			s.mu.Unlock()
			go s.read(c, st)
		}
	}()
}

func (s *sink) read(c net.Conn, st *stream) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.reading--
		s.mu.Unlock()
		s.changed.poke()
	}()
	if s.hold != nil {
		<-s.hold
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			s.mu.Lock()
			st.err = err
			s.mu.Unlock()
		}
		if n > 0 {
			s.mu.Lock()
			if !s.discard {
				s.data.Write(buf[:n])
				st.data.Write(buf[:n])
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

// rcvbufOf is c's SO_RCVBUF, 0 if it cannot be read.
func rcvbufOf(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	v := 0
	_ = rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
	return v
}

// kill closes the listener and every accepted connection, like a crashed
// backend, and waits for the sink's goroutines.
func (s *sink) kill() {
	s.mu.Lock()
	if s.hold != nil {
		select {
		case <-s.hold:
		default:
			close(s.hold)
		}
	}
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
		s.unhold = testnet.HoldPort(s.network, s.addr)
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

// accepted returns the streams of the connections accepted so far.
func (s *sink) accepted() []*stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*stream(nil), s.streams...)
}

// readersDone reports whether every accepted connection has been read to
// its end (EOF or error).
func (s *sink) readersDone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reading == 0
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
