package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"ringrelay/config"
	"ringrelay/proxy/line"
	"ringrelay/proxy/udpsock"
)

// listener accepts lines on one socket and routes them. It belongs to the
// runtime and is keyed by its address (listenKey): a reload that keeps the
// address keeps the socket and every open connection, and only swaps the
// route (format, rules, pools) the connections' dispatchers pick up at
// their next block. Every goroutine it starts is tracked by wg and ends on
// stop.
type listener struct {
	key    string // scheme://addr, the identity a reload matches on
	scheme string
	addr   string
	log    *zap.Logger
	route  atomic.Pointer[route]

	readers sync.Pool // *connState

	ln  net.Listener   // tcp, unix, http
	pc  net.PacketConn // udp
	srv *http.Server   // http

	// stopping is set before stop ends the connections; a reader that
	// re-arms its idle deadline checks it after, so it never outlives stop.
	// stopAt is the deadline readers then get: until it they read what the
	// kernel already held when the listener stopped.
	stopping atomic.Bool
	stopAt   atomic.Int64 // unix nanoseconds
	limit    *connLimit

	mu      sync.Mutex // guards conns and stopped
	conns   map[net.Conn]struct{}
	stopped bool

	wg sync.WaitGroup
}

// connState is the per-connection reader and dispatcher, pooled.
type connState struct {
	rd      *line.Reader
	maxLine int
	d       *dispatcher
}

// listenKey is a listener's identity across reloads: its scheme and
// address, and its name when the port is 0 (any free port: two such
// listeners are two sockets, told apart by name).
func listenKey(lc ListenerConfig) (string, error) {
	scheme, addr, err := parseListen(lc.Listen)
	if err != nil {
		return "", err
	}
	key := scheme + "://" + addr
	if strings.HasSuffix(addr, ":0") {
		key += "#" + lc.Name
	}
	return key, nil
}

// connLimit is the process-wide cap on client connections
// (max_connections), shared by every listener.
type connLimit struct {
	n, max atomic.Int64
}

func (c *connLimit) take() bool {
	if c.n.Add(1) > c.max.Load() {
		c.n.Add(-1)
		return false
	}
	return true
}

func (c *connLimit) give() { c.n.Add(-1) }

// stopReadFor bounds how long a stopping listener reads what the kernels
// (its own and the peers') still hold for its connections (and datagrams),
// before it closes them; it stops earlier once nothing has come for
// stopQuiet.
const (
	stopReadFor = time.Second
	stopQuiet   = 50 * time.Millisecond
)

func newListener(cfg ListenerConfig, r *route, limit *connLimit, log *zap.Logger) (*listener, error) {
	scheme, addr, err := parseListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	key, _ := listenKey(cfg)
	l := &listener{key: key, limit: limit, scheme: scheme, addr: addr, conns: map[net.Conn]struct{}{},
		log: log.Named("listener").With(zap.String("listener", cfg.Name))}
	l.route.Store(r)
	return l, nil
}

// getConnState takes a reader and dispatcher for a new connection, set up
// for the current route.
func (l *listener) getConnState() *connState {
	rt := l.route.Load()
	cs, _ := l.readers.Get().(*connState)
	if cs == nil {
		cs = &connState{d: newDispatcher(rt)}
	} else if cs.d.r != rt {
		cs.d.reset(rt)
	}
	if cs.rd == nil || cs.maxLine != rt.maxLine {
		cs.rd = line.NewReader(nil, line.ReaderConfig{MaxLine: rt.maxLine})
		cs.maxLine = rt.maxLine
	}
	return cs
}

// cfg is the listener's current config (from its route).
func (l *listener) cfg() ListenerConfig { return l.route.Load().cfg }

// bind opens the socket without serving it yet: a reload binds every new
// listener before it changes anything, so that one that cannot bind
// refuses the whole config.
func (l *listener) bind() error {
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
		err = l.bindUDP()
	}
	if err != nil {
		return fmt.Errorf("failed to listen on %q: %w", l.cfg().Listen, err)
	}
	return nil
}

// serve starts accepting (or reading datagrams) on the bound socket. The
// bound address is logged (port 0 picks a free one).
func (l *listener) serve() {
	rt := l.route.Load()
	l.log.Info("listening", zap.String("addr", l.Addr().String()), zap.String("proto", l.scheme), zap.String("format", rt.format.Name()))
	switch l.scheme {
	case "tcp", "unix":
		l.wg.Add(1)
		go l.acceptLoop()
	case "udp":
		uc := l.pc.(*net.UDPConn)
		for range rt.cfg.Readers {
			l.wg.Add(1)
			go l.readUDP(uc)
		}
	case "http":
		l.srv = &http.Server{Handler: http.HandlerFunc(l.serveHTTP), ReadHeaderTimeout: 10 * time.Second,
			// Between requests a keep-alive connection is idle.
			IdleTimeout: rt.idle,
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
		if err := l.track(c); err != nil {
			c.Close()
			if errors.Is(err, errTooManyConns) {
				l.route.Load().metrics.refused.Inc()
				continue
			}
			return
		}
		l.route.Load().metrics.connections.Inc()
		l.wg.Add(1)
		go l.serveConn(c)
	}
}

var (
	errStopping     = errors.New("listener is stopping")
	errTooManyConns = errors.New("max_connections reached")
)

// track registers a client connection, or says why it is refused.
func (l *listener) track(c net.Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return errStopping
	}
	if l.limit != nil && !l.limit.take() {
		return errTooManyConns
	}
	l.conns[c] = struct{}{}
	return nil
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	if _, ok := l.conns[c]; ok {
		delete(l.conns, c)
		if l.limit != nil {
			l.limit.give()
		}
	}
	l.mu.Unlock()
}

func (l *listener) serveConn(c net.Conn) {
	defer l.wg.Done()
	defer l.untrack(c)
	defer c.Close()
	l.readStream(c, c, c.SetReadDeadline)
}

// readStream routes every line of r, flushing once per block read. Before
// each read it arms the idle deadline through setDeadline (when not nil):
// a connection that sends nothing for idle_timeout is closed. It picks up
// the listener's new route after a reload at its next block.
//
// When the listener stops, it reads on while lines keep coming, until
// nothing came for stopQuiet or stopReadFor has passed; what is left unread
// then (bytes in the kernel, asked through conn when not nil: SIOCINQ on
// Linux; a line whose end never came) is counted as unread bytes.
func (l *listener) readStream(r io.Reader, conn any, setDeadline func(time.Time) error) (lines uint64) {
	cs := l.getConnState()
	defer func() {
		cs.rd.Reset(nil) // the pool must not keep the connection alive
		l.readers.Put(cs)
	}()
	cs.rd.Reset(r)
	before := cs.rd.Overlong()
	for {
		if setDeadline != nil && cs.d.r.idle > 0 && !l.stopping.Load() {
			_ = setDeadline(time.Now().Add(cs.d.r.idle))
		}
		if setDeadline != nil && l.stopping.Load() {
			// Read on while lines keep arriving (the peer's kernel may
			// still hold some), until a quiet spell or stopAt.
			_ = setDeadline(time.Unix(0, min(time.Now().Add(stopQuiet).UnixNano(), l.stopAt.Load())))
		}
		blk, err := cs.rd.Next()
		if rt := l.route.Load(); rt != cs.d.r {
			cs.d.flush() // counters of the old route go to its series
			cs.d.reset(rt)
		}
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
		if err != nil && l.stopping.Load() && !errors.Is(err, io.EOF) {
			unread := cs.rd.Buffered()
			if n, ok := inQueue(conn); ok {
				unread += n
			}
			if unread > 0 {
				cs.d.r.metrics.unread.Add(float64(unread))
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !l.stopping.Load() {
				cs.d.r.metrics.idleClosed.Inc()
				l.log.Debug("closing idle connection", zap.Duration("idle_timeout", cs.d.r.idle))
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				l.log.Debug("connection ended", zap.Error(err))
			}
			return lines
		}
	}
}

func (l *listener) bindUDP() error {
	lc := net.ListenConfig{}
	pc, err := lc.ListenPacket(context.Background(), "udp", l.addr)
	if err != nil {
		return err
	}
	l.pc = pc
	l.setReadBuffer(l.cfg().ReadBuffer)
	return nil
}

// setReadBuffer sizes a udp listener's receive buffer (also on reload).
func (l *listener) setReadBuffer(size config.ByteSize) {
	uc, ok := l.pc.(*net.UDPConn)
	if !ok || size <= 0 {
		return
	}
	if err := uc.SetReadBuffer(int(size)); err != nil {
		l.log.Warn("failed to set udp receive buffer", zap.Error(err))
	}
	setReadBufferForce(uc, int(size), l.log)
}

// readUDP reads datagrams and routes their lines. It never waits on anything
// downstream: backend queues take batches without blocking (or drop and
// count), so the socket is drained as fast as the CPU allows. It reads up
// to udpBatch datagrams per system call (recvmmsg on Linux) and flushes its
// batches once per read, not once per datagram. Several readers share the
// socket (cfg.Readers), each with its own dispatcher, so lines of different
// datagrams may be forwarded out of order, as UDP may deliver them anyway.
func (l *listener) readUDP(uc *net.UDPConn) {
	defer l.wg.Done()
	rd := udpsock.NewReader(uc, udpBatch, udpsock.DefaultBufSize)
	d := newDispatcher(l.route.Load())
	for {
		dgrams, err := rd.Read()
		if rt := l.route.Load(); rt != d.r {
			d.flush()
			d.reset(rt)
		}
		maxLine := d.r.maxLine
		for i, blk := range dgrams {
			if d.r.datagrams && len(blk) <= maxLine && !rd.WasTruncated(i) {
				// No line of it can be too long: whole, as sent.
				d.datagram(blk)
				continue
			}
			if rd.WasTruncated(i) {
				// Cut by the kernel: its last line is not whole.
				d.in++
				d.invalid[line.TooLong]++
				if j := bytes.LastIndexByte(blk, '\n'); j >= 0 {
					blk = blk[:j]
				} else {
					continue
				}
			}
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
			if len(d.aggs) > 0 {
				// An aggregator counts datagrams as statsd does
				// (packets_received): hand each one over as it was sent.
				d.flushAggregators()
			}
		}
		d.flush()
		if l.stopping.Load() {
			// Stopping: read on until the kernel holds nothing more.
			if n, perr := udpsock.Pending(uc); err != nil || (perr == nil && n == 0) {
				return
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("udp read failed", zap.Error(err))
		}
	}
}

// udpBatch is the most datagrams one read takes: 8 to 32 measured best
// (proxy/udpsock benchmarks); 16 datagrams of 64 KiB is 1 MiB per reader.
const udpBatch = 16

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
	err := errStopping
	if c != nil {
		err = l.track(c)
	}
	if err != nil {
		if errors.Is(err, errTooManyConns) {
			l.route.Load().metrics.refused.Inc()
		}
		w.Header().Set("Connection", "close")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer l.untrack(c)
	l.route.Load().metrics.connections.Inc()
	n := l.readStream(req.Body, nil, http.NewResponseController(w).SetReadDeadline)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "received %d lines\n", n)
}

// stop closes the socket and every open connection, and waits until every
// reader has flushed what it had read.
func (l *listener) stop(ctx context.Context) {
	at := time.Now().Add(stopReadFor)
	if d, ok := ctx.Deadline(); ok && d.Before(at) {
		at = d
	}
	l.stopAt.Store(at.UnixNano())
	l.stopping.Store(true)
	if l.ln != nil && l.srv == nil {
		l.ln.Close() // accept no more
	}
	l.mu.Lock()
	l.stopped = true
	quiet := time.Unix(0, min(time.Now().Add(stopQuiet).UnixNano(), at.UnixNano()))
	for c := range l.conns {
		// The reader reads what is still coming for c, then returns.
		_ = c.SetReadDeadline(quiet)
	}
	l.mu.Unlock()
	if l.pc != nil {
		_ = l.pc.SetReadDeadline(quiet)
	}
	if l.srv != nil {
		_ = l.srv.Shutdown(ctx)
	}
	l.wg.Wait()
	if l.ln != nil {
		l.ln.Close()
	}
	if l.pc != nil {
		// Datagrams that came after the readers stopped are counted
		// (their bytes, as unread) rather than lost without a trace.
		if n := drainUDP(l.pc.(*net.UDPConn)); n > 0 && l.route.Load().metrics != nil {
			l.route.Load().metrics.unread.Add(float64(n))
		}
		l.pc.Close()
	}
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

// drainUDP reads what the kernel still holds for uc without routing it
// and returns its bytes (at most a few milliseconds' worth of reading).
func drainUDP(uc *net.UDPConn) int {
	if n, err := udpsock.Pending(uc); err == nil && n == 0 {
		return 0
	}
	_ = uc.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	rd := udpsock.NewReader(uc, udpBatch, udpsock.DefaultBufSize)
	total := 0
	for {
		dgrams, err := rd.Read()
		for _, d := range dgrams {
			total += len(d)
		}
		if err != nil {
			return total
		}
	}
}
