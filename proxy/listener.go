package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"ringrelay/proxy/line"
)

// listener accepts lines on one socket and routes them. Every goroutine it
// starts is tracked by wg and ends on stop.
type listener struct {
	cfg    ListenerConfig
	scheme string
	addr   string
	route  *route
	log    *zap.Logger

	readers sync.Pool // *connState

	ln  net.Listener   // tcp, unix, http
	pc  net.PacketConn // udp
	srv *http.Server   // http

	mu      sync.Mutex // guards conns and stopped
	conns   map[net.Conn]struct{}
	stopped bool

	wg sync.WaitGroup
}

// connState is the per-connection reader and dispatcher, pooled.
type connState struct {
	rd *line.Reader
	d  *dispatcher
}

func newListener(cfg ListenerConfig, r *route, log *zap.Logger) (*listener, error) {
	scheme, addr, err := parseListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	l := &listener{cfg: cfg, scheme: scheme, addr: addr, route: r, conns: map[net.Conn]struct{}{},
		log: log.Named("listener").With(zap.String("listener", cfg.Name))}
	l.readers.New = func() any {
		return &connState{
			rd: line.NewReader(nil, line.ReaderConfig{MaxLine: int(cfg.MaxLine)}),
			d:  newDispatcher(r),
		}
	}
	return l, nil
}

// start binds the socket and starts serving. The bound address is logged
// (port 0 picks a free one).
func (l *listener) start() error {
	var err error
	switch l.scheme {
	case "tcp", "http":
		l.ln, err = net.Listen("tcp", l.addr)
	case "unix":
		if staleSocket(l.addr) {
			_ = os.Remove(l.addr) // left by a previous run that died
		}
		l.ln, err = net.Listen("unix", l.addr)
	case "udp":
		err = l.startUDP()
	}
	if err != nil {
		return fmt.Errorf("failed to listen on %q: %w", l.cfg.Listen, err)
	}
	l.log.Info("listening", zap.String("addr", l.Addr().String()), zap.String("proto", l.scheme), zap.String("format", l.route.format.Name()))
	switch l.scheme {
	case "tcp", "unix":
		l.wg.Add(1)
		go l.acceptLoop()
	case "http":
		l.srv = &http.Server{Handler: http.HandlerFunc(l.serveHTTP), ReadHeaderTimeout: 10 * time.Second,
			// The handler finds its connection here, so stop can end a
			// POST body that streams lines forever as it ends a TCP
			// connection (srv.Shutdown alone waits for it).
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, httpConnKey{}, c)
			}}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				l.log.Error("http listener failed", zap.Error(err))
			}
		}()
	}
	return nil
}

// Addr is the bound address.
func (l *listener) Addr() net.Addr {
	if l.pc != nil {
		return l.pc.LocalAddr()
	}
	return l.ln.Addr()
}

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (EMFILE...): back off, capped, and go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("accept failed", zap.Error(err), zap.Duration("retry_in", delay))
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !l.track(c) {
			c.Close()
			return
		}
		l.route.metrics.connections.Inc()
		l.wg.Add(1)
		go l.serveConn(c)
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

func (l *listener) serveConn(c net.Conn) {
	defer l.wg.Done()
	defer l.untrack(c)
	defer c.Close()
	l.readStream(c)
}

// readStream routes every line of r, flushing once per block read.
func (l *listener) readStream(r io.Reader) (lines uint64) {
	cs := l.readers.Get().(*connState)
	defer func() {
		cs.rd.Reset(nil) // the pool must not keep the connection alive
		l.readers.Put(cs)
	}()
	cs.rd.Reset(r)
	before := cs.rd.Overlong()
	for {
		blk, err := cs.rd.Next()
		if len(blk) > 0 {
			cs.d.block(blk)
		}
		if n := cs.rd.Overlong(); n != before {
			cs.d.in += n - before
			cs.d.invalid[line.TooLong] += n - before
			before = n
		}
		lines += cs.d.in
		cs.d.flush()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				l.log.Debug("connection ended", zap.Error(err))
			}
			return lines
		}
	}
}

func (l *listener) startUDP() error {
	lc := net.ListenConfig{}
	pc, err := lc.ListenPacket(context.Background(), "udp", l.addr)
	if err != nil {
		return err
	}
	uc := pc.(*net.UDPConn)
	if l.cfg.ReadBuffer > 0 {
		if err := uc.SetReadBuffer(int(l.cfg.ReadBuffer)); err != nil {
			l.log.Warn("failed to set udp receive buffer", zap.Error(err))
		}
		setReadBufferForce(uc, int(l.cfg.ReadBuffer), l.log)
	}
	l.pc = pc
	for range l.cfg.Readers {
		l.wg.Add(1)
		go l.readUDP(uc)
	}
	return nil
}

// readUDP reads datagrams and routes their lines. It never waits on anything
// downstream: backend queues take batches without blocking (or drop and
// count), so the socket is drained as fast as the CPU allows. Several
// readers share the socket (cfg.Readers), each with its own dispatcher, so
// lines of different datagrams may be forwarded out of order, as UDP may
// deliver them anyway.
func (l *listener) readUDP(uc *net.UDPConn) {
	defer l.wg.Done()
	buf := make([]byte, 64<<10)
	d := newDispatcher(l.route)
	maxLine := int(l.cfg.MaxLine)
	for {
		n, err := uc.Read(buf)
		if n > 0 {
			blk := buf[:n]
			for len(blk) > 0 {
				var ln []byte
				ln, blk = line.Cut(blk)
				if len(ln) > maxLine {
					d.in++
					d.invalid[line.TooLong]++
					continue
				}
				d.line(ln)
			}
			d.flush()
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("udp read failed", zap.Error(err))
		}
	}
}

// httpConnKey is the request context key of an http listener's connection.
type httpConnKey struct{}

// serveHTTP takes a POST body of lines. It answers 200 with the counts, 405
// for other methods, 503 once the listener is stopping.
func (l *listener) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "send lines with POST", http.StatusMethodNotAllowed)
		return
	}
	c, _ := req.Context().Value(httpConnKey{}).(net.Conn)
	if c == nil || !l.track(c) {
		w.Header().Set("Connection", "close")
		http.Error(w, "listener is stopping", http.StatusServiceUnavailable)
		return
	}
	defer l.untrack(c)
	l.route.metrics.connections.Inc()
	n := l.readStream(req.Body)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "received %d lines\n", n)
}

// stop closes the socket and every open connection, and waits until every
// reader has flushed what it had read.
func (l *listener) stop(ctx context.Context) {
	l.mu.Lock()
	l.stopped = true
	for c := range l.conns {
		// Unblock the reader; it flushes its last block and returns.
		_ = c.SetReadDeadline(time.Now())
	}
	l.mu.Unlock()
	if l.srv != nil {
		_ = l.srv.Shutdown(ctx)
	}
	if l.ln != nil {
		l.ln.Close()
	}
	if l.pc != nil {
		l.pc.Close()
	}
	l.wg.Wait()
	// A unix listener's Close has unlinked its socket file; one that was
	// never bound leaves the path alone (it may be another process's).
}

// staleSocket reports whether path is a unix socket nobody listens on, as a
// relay that died leaves it. A live one (another relay) is not stale: its
// path is not taken over, and Listen fails with "address already in use".
func staleSocket(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
