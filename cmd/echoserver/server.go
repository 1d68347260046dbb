package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// server owns the listeners and every goroutine that reads from them.
type server struct {
	listeners []*listener
	out       io.Writer // nil: count only
	exitAfter int64
	reached   chan struct{} // closed once exitAfter lines arrived
	once      sync.Once
	total     atomic.Int64

	outMu sync.Mutex // serialises whole lines on out

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// listener is one -listen URL with its counters.
type listener struct {
	url   string // with the bound address
	ln    net.Listener
	pc    net.PacketConn
	lines atomic.Int64
	bytes atomic.Int64
}

// start listens on every URL and serves them until close. Lines are copied
// to out when it is not nil.
func start(urls []string, out io.Writer, exitAfter int64) (*server, error) {
	s := &server{out: out, exitAfter: exitAfter, reached: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	for _, u := range urls {
		l, err := listen(strings.TrimSpace(u))
		if err != nil {
			s.close()
			return nil, err
		}
		s.listeners = append(s.listeners, l)
	}
	for _, l := range s.listeners {
		s.wg.Add(1)
		if l.pc != nil {
			go s.servePackets(l)
		} else {
			go s.accept(l)
		}
	}
	return s, nil
}

func listen(u string) (*listener, error) {
	proto, addr, ok := strings.Cut(u, "://")
	if !ok || addr == "" {
		return nil, fmt.Errorf("failed to parse listen URL %q: want tcp://host:port, udp://host:port or unix:///path", u)
	}
	switch proto {
	case "tcp", "unix":
		ln, err := net.Listen(proto, addr)
		if err != nil {
			return nil, fmt.Errorf("failed to listen on %q: %w", u, err)
		}
		return &listener{url: proto + "://" + ln.Addr().String(), ln: ln}, nil
	case "udp":
		pc, err := net.ListenPacket(proto, addr)
		if err != nil {
			return nil, fmt.Errorf("failed to listen on %q: %w", u, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(4 << 20)
		}
		return &listener{url: "udp://" + pc.LocalAddr().String(), pc: pc}, nil
	}
	return nil, fmt.Errorf("failed to parse listen URL %q: unknown protocol %q", u, proto)
}

// count adds lines to l and to the total, and signals -exit-after.
func (s *server) count(l *listener, lines, n int64) {
	l.lines.Add(lines)
	l.bytes.Add(n)
	if t := s.total.Add(lines); s.exitAfter > 0 && t >= s.exitAfter {
		s.once.Do(func() { close(s.reached) })
	}
}

func (s *server) accept(l *listener) {
	defer s.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed (anything else on a local listener is fatal too)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(l, c)
	}
}

func (s *server) serveConn(l *listener, c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if s.out == nil {
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				s.count(l, int64(bytes.Count(buf[:n], []byte{'\n'})), int64(n))
			}
			if err != nil {
				return
			}
		}
	}
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.echo(line) // a very long line goes out in pieces
			s.count(l, 0, int64(len(line)))
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			s.echo(line)
			s.count(l, 1, int64(len(line)))
		} else if len(line) > 0 {
			s.count(l, 0, int64(len(line))) // unterminated tail at EOF
		}
		if err != nil {
			return
		}
	}
}

func (s *server) servePackets(l *listener) {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, _, err := l.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		d := buf[:n]
		lines := int64(bytes.Count(d, []byte{'\n'}))
		if n > 0 && d[n-1] != '\n' {
			lines++ // statsd: the last line of a datagram may lack '\n'
			if s.out != nil {
				d = append(d, '\n')
			}
		}
		s.echo(d)
		s.count(l, lines, int64(n))
	}
}

func (s *server) echo(p []byte) {
	if s.out == nil {
		return
	}
	s.outMu.Lock()
	_, _ = s.out.Write(p)
	s.outMu.Unlock()
}

// counts returns the line count of each listener, in order.
func (s *server) counts() []int64 {
	out := make([]int64, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.lines.Load()
	}
	return out
}

// close stops the listeners and connections and waits for the goroutines.
func (s *server) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	for _, l := range s.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
		if l.pc != nil {
			l.pc.Close()
		}
	}
	s.wg.Wait()
}
