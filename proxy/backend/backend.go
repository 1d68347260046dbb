// Package backend sends a pool's lines to one outbound destination (a
// carbon-cache, a statsd daemon, another relay): one bounded queue, one
// writer goroutine, batched writes, reconnects with capped backoff.
//
// It knows nothing of formats, rings or routing: it is handed batches of
// whole lines and delivers them in order. Loss is explicit: every line that
// is not sent is counted with a reason.
//
// # Delivery
//
// Lines are delivered in the order they were enqueued. While the backend is
// down they stay queued (up to queue_bytes, and up to the relay-wide Budget
// shared by all backends) and are sent once it is back.
//
// A line is sent when the peer's TCP has acknowledged it, not when it was
// written: on Linux the writer keeps the lines it wrote (still counted in
// queue_bytes and the Budget) and, after each write and while idle, asks the
// kernel how much of the socket's send queue is unacknowledged (SIOCOUTQ);
// what is acknowledged is counted as sent and its memory recycled (so
// queue_bytes also bounds the bytes in flight: a queue smaller than the
// path's bandwidth-delay product limits throughput). When a
// write fails or times out, or the peer closed, the connection is reset (so
// the kernel does not deliver later what we resend) and the writer resends
// from the start of the oldest unacknowledged line: the lines the kernel
// still held and the line the failed write tore, which is never sent in two
// halves over two connections (ringrelay_backend_lines_requeued_total).
// Close waits, within its ctx, for the last bytes to be acknowledged; lines
// still unacknowledged then are dropped as unacknowledged. Elsewhere (other
// systems, unix sockets, UDP) a written line counts as sent.
//
// What TCP cannot tell: bytes the peer's kernel acknowledged but its process
// never read. They are counted as sent, and lost if the peer never reads
// them (it dies, or closes the connection; a Linux peer can still read them
// after our reset). Per connection they are bounded by the peer socket's
// receive buffer: at most net.ipv4.tcp_rmem's maximum (6 MiB by default on
// Linux, often raised, e.g. to 32 MiB), or net.core.rmem_max doubled when
// the peer sets SO_RCVBUF. A peer that never reads holds that much of every
// connection it is given.
//
// Duplicates: a backend that keeps the torn tail of a connection as a line
// sees that fragment and then the whole line again (accepted by design); a
// line the peer acknowledges in the instant between the writer reading the
// send queue and resetting the connection is delivered and resent.
//
// # Accounting
//
// For every backend, at any Stats snapshot and so exactly once it is closed:
//
//	routed = LinesSent + sum(LinesDropped) + QueuedLines
//
// where routed is the sum of the n passed to Enqueue (accepted or not), and
// QueuedLines counts the lines queued, being written, and written but not
// acknowledged. The metrics hold the same identity between
// ringrelay_backend_lines_sent_total, ringrelay_backend_lines_dropped_total
// and ringrelay_backend_queue_lines when the backend is quiescent.
//
// # Stalls
//
// A backend that accepts connections and never reads makes every write time
// out, or leaves what was written unacknowledged for write_timeout (which
// counts as a write timeout). After two in a row without progress it is
// stalled: ringrelay_backend_up is 0 and Stats().Up false, Stats().Stalled
// true, the backoff between reconnects grows (each new connection gives the
// peer another receive buffer of lines), a warning is logged once. Progress
// ends it: a connection on which the peer acknowledges more than twice what a
// stalled connection took (plus a batch), or acknowledges everything taken
// after being open for write_timeout. Until a peer has been given more than
// its receive window, one that reads cannot be told from one that does not.
package backend

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"ringrelay/discovery"
)

// Options is what New needs to build a Backend.
type Options struct {
	// Config is the pool's backend section; zero fields take the defaults
	// (except FlushInterval, whose zero means "no coalescing delay").
	Config
	// Server is the destination: tcp, udp or unix.
	Server discovery.Server
	// Pool names the pool, for metrics and logs.
	Pool string
	// Logger may be nil (no logs).
	Logger *zap.Logger
	// Metrics may be nil (a private, unregistered set is used).
	Metrics *Metrics
	// Budget is the bound on bytes queued over all the relay's backends,
	// shared by them all; nil: no global bound.
	Budget *Budget

	// onChange, if set (tests), is called by the writer goroutine after each
	// change it makes: a connect, a failed dial, a write, a disconnect,
	// going idle (waiting for lines), exiting.
	onChange func()
}

// Backend is one outbound destination of a pool. Enqueue may be called from
// any number of goroutines; the Backend's own writer goroutine does all the
// network I/O. Close stops it and waits for it.
type Backend struct {
	cfg     Config
	server  discovery.Server
	pool    string
	network string
	addr    string
	limit   int64 // queue bound in bytes
	batch   int   // most bytes per write
	chunkSz int   // allocation unit of the queue: min(batch, maxChunk)
	log     *zap.Logger
	m       *Metrics
	s       *series
	budget  *Budget // nil: no global bound
	dialer  net.Dialer
	jitter  func() float64
	changed func() // Options.onChange, or a no-op

	// ctx is cancelled when Close gives up draining; it aborts dials,
	// backoff waits and (through connMu) blocked writes.
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when the writer has exited
	wake      chan struct{} // capacity 1: "look at the queue again"
	closeOnce sync.Once
	freeOnce  sync.Once

	// mu guards the queue and the close state.
	mu        sync.Mutex
	chunks    []*chunk     // FIFO of queued lines; the tail is being filled
	queued    int64        // bytes in chunks
	total     int64        // bytes in chunks plus the writer's unsent batch; <= limit; taken from budget
	free      []*chunk     // recycled chunks of cap chunkSz
	closed    bool         // no more Enqueue; the writer drains
	closeDrop *dropCounter // where lines dropped by/after Close are counted
	idle      bool         // the writer waits for any line
	filling   bool         // the writer waits for a full batch (FlushInterval)

	// connMu guards conn and orders "set a write deadline" against Close's
	// abort, so an aborting Close always interrupts the write in flight.
	connMu sync.Mutex
	conn   net.Conn

	iov [][]byte // the writer's reusable writev vector

	// queuedLines counts the lines in total (guarded by mu); linesSent and
	// the drop counters change under mu too, so Stats sees them agree.
	queuedLines   int64
	linesSent     atomic.Uint64
	linesRequeued atomic.Uint64
	bytesSent     atomic.Uint64
	writes        atomic.Uint64
	reconnects    atomic.Uint64
	writeErrors   atomic.Uint64
	dialErrors    atomic.Uint64
	up            atomic.Bool // connected and not stalled
	isStalled     atomic.Bool
	lastErr       atomic.Pointer[errRecord]
	drops         [4]*dropCounter // queue_full, shutdown, backend_gone, global_queue_full
	writeDrops    *dropCounter
	unackedDrops  *dropCounter
	extraDrop     atomic.Pointer[dropCounter] // a custom CloseReason reason
}

// dropCounter counts lines dropped for one reason, for Stats and Prometheus.
type dropCounter struct {
	reason string
	n      atomic.Uint64
	c      prometheus.Counter
}

func (d *dropCounter) add(lines int) {
	if lines <= 0 {
		return
	}
	d.n.Add(uint64(lines))
	d.c.Add(float64(lines))
}

type errRecord struct {
	msg string
	at  time.Time
}

// chunk holds whole lines; off is how much of buf the writer has written,
// ack how much of that the peer acknowledged (ack <= off).
type chunk struct {
	buf  []byte
	off  int
	ack  int
	full bool // takes no more lines
}

// New builds the backend and starts its writer goroutine, which connects
// right away (so an unreachable backend shows as down before any traffic).
// The caller must Close it.
func New(o Options) *Backend {
	cfg := o.Config.withDefaults()
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	changed := o.onChange
	if changed == nil {
		changed = func() {}
	}
	network := o.Server.Proto
	if network == "" {
		network = "tcp"
	}
	b := &Backend{
		cfg:     cfg,
		server:  o.Server,
		pool:    o.Pool,
		network: network,
		addr:    o.Server.Addr(),
		limit:   int64(cfg.QueueBytes),
		batch:   int(cfg.BatchBytes),
		chunkSz: min(int(cfg.BatchBytes), maxChunk),
		log:     log.Named("backend").With(zap.String("pool", o.Pool), zap.String("backend", o.Server.String())),
		m:       m,
		budget:  o.Budget,
		changed: changed,
		dialer:  net.Dialer{Timeout: cfg.DialTimeout.Duration},
		jitter:  rand.Float64,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.s = m.bind(o.Pool, o.Server.String())
	for i, r := range []string{ReasonQueueFull, ReasonShutdown, ReasonBackendGone, ReasonGlobalQueueFull} {
		b.drops[i] = &dropCounter{reason: r, c: m.droppedCounter(b.s, r)}
	}
	b.writeDrops = &dropCounter{reason: ReasonWriteError, c: m.droppedCounter(b.s, ReasonWriteError)}
	b.unackedDrops = &dropCounter{reason: ReasonUnacked, c: m.droppedCounter(b.s, ReasonUnacked)}
	go b.run()
	return b
}

// Server is the destination this backend writes to.
func (b *Backend) Server() discovery.Server { return b.server }

// Enqueue queues n whole lines (each ending in '\n', n counting them
// exactly: the accounting relies on it) for sending. The bytes
// are copied before it returns, so the caller may reuse lines. It never
// waits on the network, only on a short mutex. When the queue cannot take
// the whole batch, or the global Budget cannot, or the backend is closed,
// the batch is dropped and counted as n lines (queue_full,
// global_queue_full, or the close reason) and Enqueue returns false.
//
// Per batch it takes the mutex, makes one atomic op on the Budget and
// copies the bytes into recycled chunks: it allocates only when the queue
// grows past what it held before.
func (b *Backend) Enqueue(lines []byte, n int) bool {
	if len(lines) == 0 {
		return true
	}
	size := int64(len(lines))
	b.mu.Lock()
	if b.closed {
		d := b.closeDrop
		if n > 0 {
			d.n.Add(uint64(n))
		}
		b.mu.Unlock()
		// Close may have released the series already.
		if n > 0 {
			b.m.lateDrop(b.s, d.reason, n)
		}
		return false
	}
	if b.total+size > b.limit {
		// Counted under mu, so before Close (which needs mu) can release
		// the series.
		b.drops[0].add(n)
		b.mu.Unlock()
		return false
	}
	if b.budget != nil && !b.budget.take(size) {
		b.drops[3].add(n)
		b.mu.Unlock()
		return false
	}
	b.appendLocked(lines)
	b.total += size
	b.queued += size
	b.queuedLines += int64(n)
	wake := b.idle || (b.filling && b.queued >= int64(b.batch))
	if wake {
		b.idle, b.filling = false, false
	}
	b.s.queueBytes.Add(float64(size)) // under mu: never behind the writer's Sub
	b.s.queueLines.Add(float64(n))
	b.mu.Unlock()
	if wake {
		b.signal()
	}
	return true
}

// appendLocked copies p into the tail chunks, splitting only between lines
// so that every chunk holds whole lines (a line longer than a chunk gets an
// oversized chunk of its own).
func (b *Backend) appendLocked(p []byte) {
	for len(p) > 0 {
		var t *chunk
		if k := len(b.chunks); k > 0 {
			t = b.chunks[k-1]
		}
		if t == nil || t.full {
			t = b.newChunkLocked()
			b.chunks = append(b.chunks, t)
		}
		room := cap(t.buf) - len(t.buf)
		if len(p) <= room {
			t.buf = append(t.buf, p...)
			return
		}
		if i := bytes.LastIndexByte(p[:room], '\n'); i >= 0 {
			t.buf = append(t.buf, p[:i+1]...)
			p = p[i+1:]
		} else if len(t.buf) == 0 {
			// One line longer than a chunk: give it this chunk, grown.
			j := bytes.IndexByte(p, '\n') + 1
			if j == 0 {
				j = len(p)
			}
			t.buf = append(t.buf, p[:j]...)
			p = p[j:]
		}
		t.full = true // the next line opens a chunk
	}
}

func (b *Backend) newChunkLocked() *chunk {
	if k := len(b.free); k > 0 {
		c := b.free[k-1]
		b.free = b.free[:k-1]
		return c
	}
	return &chunk{buf: make([]byte, 0, b.chunkSz)}
}

const (
	// maxChunk is the largest queue allocation unit: a write of more than
	// one chunk is a writev of several.
	maxChunk = 64 << 10
	// maxFreeBytes bounds the recycled chunks a backend keeps, so an
	// outage's queue is given back once it has drained.
	maxFreeBytes = 4 << 20
)

// recycle returns acknowledged chunks to the free list and their bytes to
// the bounds, and counts lines (in them or before) as sent.
func (b *Backend) recycle(cs []*chunk, lines int) {
	var size int64
	b.mu.Lock()
	for _, c := range cs {
		size += int64(len(c.buf))
		if cap(c.buf) == b.chunkSz && len(b.free)*b.chunkSz < maxFreeBytes {
			c.buf, c.off, c.ack, c.full = c.buf[:0], 0, 0, false
			b.free = append(b.free, c)
		}
	}
	b.total -= size
	b.queuedLines -= int64(lines)
	b.linesSent.Add(uint64(lines))
	b.mu.Unlock()
	if b.budget != nil {
		b.budget.give(size)
	}
	b.s.queueBytes.Sub(float64(size))
	if lines > 0 {
		b.s.linesSent.Add(float64(lines))
		b.s.queueLines.Sub(float64(lines))
	}
}

// dropWritten counts lines the writer took and gives up (their bytes go
// with their chunk) as dropped for d's reason.
func (b *Backend) dropWritten(d *dropCounter, lines int) {
	if lines <= 0 {
		return
	}
	b.mu.Lock()
	b.queuedLines -= int64(lines)
	d.add(lines)
	b.mu.Unlock()
	b.s.queueLines.Sub(float64(lines))
}

func (b *Backend) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Close stops the backend: later Enqueue calls drop with reason shutdown,
// the writer sends what is queued until ctx is done, what is left then is
// counted as dropped (shutdown), the connection is closed and the writer
// waited for. It is idempotent and safe to call concurrently.
func (b *Backend) Close(ctx context.Context) { b.CloseReason(ctx, ReasonShutdown) }

// CloseReason is Close with the drop reason to count the lines left unsent
// and the lines enqueued after it, e.g. ReasonBackendGone for a backend that
// left the ring. Only the first call's reason counts. Once it returns, the
// backend's metric series are deleted (unless another live Backend for the
// same pool and server shares them), except the drop counters that are not
// zero: they stay for the Metrics' departed retention, and lines enqueued
// later still count on them (and keep them longer). After
// Metrics.KeepSeries (the process is stopping) every series stays.
func (b *Backend) CloseReason(ctx context.Context, reason string) {
	b.closeOnce.Do(func() {
		d := b.dropFor(reason)
		b.mu.Lock()
		b.closed = true
		b.closeDrop = d
		b.mu.Unlock()
		b.signal()
	})
	select {
	case <-b.done:
	case <-ctx.Done():
		b.abort()
		<-b.done
	}
	b.freeOnce.Do(func() { b.m.release(b.s) })
}

func (b *Backend) dropFor(reason string) *dropCounter {
	switch reason {
	case ReasonQueueFull:
		return b.drops[0]
	case ReasonShutdown, "":
		return b.drops[1]
	case ReasonBackendGone:
		return b.drops[2]
	case ReasonWriteError:
		return b.writeDrops
	case ReasonGlobalQueueFull:
		return b.drops[3]
	case ReasonUnacked:
		return b.unackedDrops
	}
	d := &dropCounter{reason: reason, c: b.m.droppedCounter(b.s, reason)}
	b.extraDrop.Store(d)
	return d
}

// abort makes the writer give up: dials, backoff and the write in flight
// return at once.
func (b *Backend) abort() {
	b.cancel()
	b.connMu.Lock()
	if b.conn != nil {
		_ = b.conn.SetWriteDeadline(time.Unix(1, 0))
	}
	b.connMu.Unlock()
}

// Stats is a backend's state for the /stats page. Its line counts satisfy
// routed = LinesSent + sum(LinesDropped) + QueuedLines (see the package doc).
type Stats struct {
	Pool   string `json:"pool"`
	Server string `json:"server"`
	// Up: connected, and not stalled.
	Up bool `json:"up"`
	// Stalled: write timeouts in a row without progress; the backend
	// accepts connections but does not read (see the package doc).
	Stalled         bool  `json:"stalled,omitempty"`
	QueuedBytes     int64 `json:"queued_bytes"`
	QueueLimitBytes int64 `json:"queue_limit_bytes"`
	// QueuedLines are queued, being written, or written and not yet
	// acknowledged by the peer.
	QueuedLines int64 `json:"queued_lines"`
	// LinesSent were acknowledged by the peer's TCP (written, for UDP,
	// unix sockets and off Linux).
	LinesSent uint64 `json:"lines_sent"`
	// LinesRequeued were written to a connection that failed before the
	// peer acknowledged them, and queued again (each time it happened).
	LinesRequeued uint64            `json:"lines_requeued"`
	BytesSent     uint64            `json:"bytes_sent"`
	Writes        uint64            `json:"writes"`
	LinesDropped  map[string]uint64 `json:"lines_dropped"`
	Reconnects    uint64            `json:"reconnects"`
	WriteErrors   uint64            `json:"write_errors"`
	DialErrors    uint64            `json:"dial_errors"`
	LastError     string            `json:"last_error,omitempty"`
	LastErrorAt   time.Time         `json:"last_error_at,omitzero"`
	Closed        bool              `json:"closed,omitempty"`
}

// Stats returns a snapshot of the backend's counters and state.
func (b *Backend) Stats() Stats {
	st := Stats{
		Pool:            b.pool,
		Server:          b.server.String(),
		Up:              b.up.Load(),
		Stalled:         b.isStalled.Load(),
		QueueLimitBytes: b.limit,
		LinesRequeued:   b.linesRequeued.Load(),
		BytesSent:       b.bytesSent.Load(),
		Writes:          b.writes.Load(),
		LinesDropped:    map[string]uint64{},
		Reconnects:      b.reconnects.Load(),
		WriteErrors:     b.writeErrors.Load(),
		DialErrors:      b.dialErrors.Load(),
	}
	extra := b.extraDrop.Load()
	// Under mu: the line counts are taken together.
	b.mu.Lock()
	st.QueuedBytes, st.QueuedLines, st.Closed = b.total, b.queuedLines, b.closed
	st.LinesSent = b.linesSent.Load()
	for _, d := range append(b.drops[:], b.writeDrops, b.unackedDrops, extra) {
		if d != nil {
			st.LinesDropped[d.reason] = d.n.Load()
		}
	}
	b.mu.Unlock()
	if e := b.lastErr.Load(); e != nil {
		st.LastError, st.LastErrorAt = e.msg, e.at
	}
	return st
}
