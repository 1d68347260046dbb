package backend

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// errAborted is returned by writes once Close has given up draining.
var errAborted = errors.New("backend closed")

// Stall detection and the wait for acknowledgements.
const (
	// stallTimeouts write timeouts in a row without progress mark the
	// backend stalled.
	stallTimeouts = 2
	// pollMin and pollMax bound the interval at which an idle writer asks
	// the kernel whether the peer acknowledged the last bytes written.
	pollMin = time.Millisecond
	pollMax = 100 * time.Millisecond
)

// wconn is one connection as the writer sees it: how much of what was
// written on it the peer acknowledged.
type wconn struct {
	net.Conn
	rc     syscall.RawConn // nil: its send queue cannot be read, written counts as acknowledged
	opened time.Time
	// unacked is what was written on it and not known to be acknowledged
	// (the tail of the written bytes, in the pending chunks).
	unacked int64
	// acked is what the peer acknowledged on it; sinceIdle the same since
	// the writer was last caught up (all it had taken acknowledged).
	acked, sinceIdle int64
	// waitSince is when the peer last acknowledged something, or when
	// unacked last became non-zero: it has to acknowledge more within
	// write_timeout.
	waitSince time.Time
}

// writer is the state of the writer goroutine, owned by it alone.
type writer struct {
	*Backend
	wc *wconn // nil while disconnected
	// pending is what was taken from the queue and not yet acknowledged, in
	// order: chunks written on conn (off > ack), then chunks to write.
	pending  []*chunk
	attempt  int  // consecutive failures, for the backoff
	dialed   bool // a dial was attempted before (the next is a reconnect)
	downTime time.Time
	timer    *time.Timer
	poll     time.Duration // next wait for acknowledgements while idle
	upShown  bool          // what ringrelay_backend_up and Stats().Up say of this Backend
	sq       sendQueue     // reads a connection's send queue without allocating

	// Stall detection: write timeouts since the peer last made progress,
	// and what a connection acknowledged before it timed out (the peer's
	// receive window, as far as seen) when streak > 0.
	streak    int
	window    int64
	stalled   bool
	stalledAt time.Time
}

// run is the writer goroutine: connect, take what is queued, write it,
// reconnect on failure; on exit count what is left and close the conn.
func (b *Backend) run() {
	defer close(b.done)
	w := &writer{Backend: b, timer: time.NewTimer(time.Hour), poll: pollMin}
	w.timer.Stop()
loop:
	for b.ctx.Err() == nil {
		if w.wc == nil {
			if len(w.pending) == 0 && b.closedAndEmpty() {
				break
			}
			if !w.connect() {
				if b.ctx.Err() != nil || !b.sleep(w.timer, w.backoff(), len(w.pending) == 0) {
					break
				}
				w.attempt++
				continue
			}
		}
		if w.unwritten() == len(w.pending) {
			var poll time.Duration
			if w.wc.unacked > 0 {
				poll = w.nextPoll()
			}
			var waited, polled bool
			w.pending, waited, polled = b.take(w.pending, w.timer, poll)
			if w.unwritten() == len(w.pending) {
				// Nothing to write: closed and empty, aborted, or time to
				// ask whether the peer acknowledged the last bytes.
				if b.ctx.Err() != nil || (!polled && w.wc.unacked == 0) {
					break
				}
				if b.network != "udp" && peerClosed(w.wc.Conn) {
					w.peerGone()
					continue
				}
				if !polled && !b.sleep(w.timer, w.nextPoll(), false) {
					// Closed with bytes unacknowledged: we waited for the
					// peer until Close's ctx was done.
					break
				}
				if w.settle() {
					b.changed()
				}
				if w.overdue() && !w.failAndWait(w.errNoAck()) {
					break
				}
				continue
			}
			if waited && b.network != "udp" && peerClosed(w.wc.Conn) {
				// The backend went away while we were idle: reconnect
				// before writing into a socket that would lose the batch.
				w.peerGone()
				continue
			}
		}
		err := w.write()
		switch {
		case err == nil:
			w.poll = pollMin
			if w.streak == 0 {
				w.attempt = 0
			}
			b.changed()
		case b.ctx.Err() != nil:
			break loop
		default:
			if !w.failAndWait(err) {
				break loop
			}
		}
	}
	w.exit()
}

// failAndWait handles a failed write and waits out the backoff; false if the
// backend was aborted meanwhile.
func (w *writer) failAndWait(err error) bool {
	w.failed(err)
	if !w.sleep(w.timer, w.backoff(), false) {
		return false
	}
	w.attempt++
	return true
}

// overdue reports whether the peer has acknowledged nothing for
// write_timeout while bytes were waiting for it: a write that succeeded
// into the kernel's buffers has timed out all the same.
func (w *writer) overdue() bool {
	c := w.wc
	return c != nil && c.unacked > 0 && time.Since(c.waitSince) >= w.cfg.WriteTimeout.Duration
}

func (w *writer) errNoAck() error {
	return fmt.Errorf("%d bytes unacknowledged for %s: %w", w.wc.unacked, w.cfg.WriteTimeout.Duration, os.ErrDeadlineExceeded)
}

// connect dials the backend; false if it failed (recorded and logged).
func (w *writer) connect() bool {
	b := w.Backend
	if w.dialed {
		b.reconnects.Add(1)
		b.s.reconnects.Inc()
	}
	w.dialed = true
	c, err := b.dialer.DialContext(b.ctx, b.network, b.addr)
	if err != nil {
		if b.ctx.Err() != nil {
			return false
		}
		// The error before the count: whoever sees the count sees it.
		err = fmt.Errorf("failed to connect to backend %q: %w", b.server.String(), err)
		b.recordErr(err)
		b.dialErrors.Add(1)
		b.s.dialErrors.Inc()
		b.changed()
		if w.downTime.IsZero() {
			w.downTime = time.Now()
			b.log.Warn("backend down", zap.Error(err))
		} else {
			b.log.Debug("backend still down", zap.Error(err))
		}
		return false
	}
	w.wc = &wconn{Conn: c, rc: sendQueueConn(c), opened: time.Now()}
	b.setConn(c)
	w.showUp()
	b.changed()
	switch {
	case w.stalled:
		b.log.Debug("backend reconnected, still stalled")
	case !w.downTime.IsZero():
		b.log.Info("backend up", zap.Duration("down_for", time.Since(w.downTime)))
		w.downTime = time.Time{}
	default:
		b.log.Debug("backend connected")
	}
	return true
}

func (w *writer) backoff() time.Duration {
	return backoff(w.attempt, w.cfg.ReconnectMin.Duration, w.cfg.ReconnectMax.Duration, w.jitter())
}

// nextPoll is how long to wait before asking again whether the peer
// acknowledged: doubling from pollMin to pollMax while it has not.
func (w *writer) nextPoll() time.Duration {
	d := w.poll
	w.poll = min(2*w.poll, pollMax)
	return d
}

// peerGone handles a peer found closed while the writer was idle.
func (w *writer) peerGone() {
	w.closeConn(true)
	w.downTime = time.Now()
	w.log.Warn("backend closed the connection")
	w.recordErr(fmt.Errorf("failed to write to backend %q: connection closed by peer", w.server.String()))
}

// failed handles a failed write: the connection is closed, what the peer
// had not acknowledged is queued again, a timeout counts towards a stall.
func (w *writer) failed(err error) {
	b := w.Backend
	c := w.wc
	w.closeConn(true)
	err = fmt.Errorf("failed to write to backend %q: %w", b.server.String(), err)
	b.recordErr(err)
	b.writeErrors.Add(1)
	b.s.writeErrors.Inc()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.timedOut(c)
	}
	b.changed()
	w.downTime = time.Now()
	if w.stalled {
		b.log.Debug("backend still stalled", zap.Error(err))
	} else {
		b.log.Warn("backend down", zap.Error(err))
	}
}

// timedOut counts a write timeout on c towards a stall.
func (w *writer) timedOut(c *wconn) {
	switch w.streak {
	case 0:
		// This connection may have carried hours of traffic before the
		// peer stopped reading: what it took since the writer last caught
		// up is the better measure of the peer's window.
		w.window = c.sinceIdle
	case 1:
		w.window = c.acked
	default:
		w.window = max(w.window, c.acked)
	}
	w.streak++
	if w.streak < stallTimeouts || w.stalled {
		return
	}
	w.stalled, w.stalledAt = true, time.Now()
	w.isStalled.Store(true)
	w.showUp()
	w.log.Warn("backend stalled: it accepts connections but does not read",
		zap.String("addr", w.addr), zap.Int("write_timeouts", w.streak), zap.Int64("window_bytes", w.window))
}

// progressed ends a stall streak once the current connection shows the
// peer reads: it acknowledged more than twice what a stalled connection
// took (plus a batch), or everything taken was acknowledged on a
// connection older than write_timeout.
func (w *writer) progressed() {
	c := w.wc
	if w.streak == 0 || c == nil {
		return
	}
	caughtUp := len(w.pending) == 0 && time.Since(c.opened) >= w.cfg.WriteTimeout.Duration
	if c.acked <= 2*w.window+int64(w.batch) && !caughtUp {
		return
	}
	w.streak, w.window = 0, 0
	if !w.stalled {
		return
	}
	w.stalled = false
	w.isStalled.Store(false)
	w.showUp()
	w.log.Info("backend reading again", zap.String("addr", w.addr), zap.Duration("stalled_for", time.Since(w.stalledAt)))
}

// showUp sets the up gauge and Stats().Up: connected and not stalled.
func (w *writer) showUp() {
	up := w.wc != nil && !w.stalled
	if up == w.upShown {
		return
	}
	w.upShown = up
	w.m.setUp(w.s, up) // the gauge before Stats().Up
	w.up.Store(up)
}

func (b *Backend) setConn(c net.Conn) {
	b.connMu.Lock()
	b.conn = c
	b.connMu.Unlock()
}

// closeConn closes the connection after asking the kernel what the peer
// has not acknowledged. If anything, the connection is reset rather than
// closed (the kernel discards what it held instead of delivering it after
// we resend it) and, with requeue, the lines are rewound to be resent.
func (w *writer) closeConn(requeue bool) {
	c := w.wc
	if c == nil {
		return
	}
	w.settle()
	if c.unacked > 0 {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	w.setConn(nil)
	_ = c.Close()
	w.wc = nil
	w.showUp()
	if requeue {
		w.rewind()
	}
	w.changed()
}

// rewind makes the writer resend, from the start of its line, everything
// written and not acknowledged: the lines the kernel still held, and the
// line a failed write tore.
func (w *writer) rewind() {
	lines := 0
	for _, c := range w.pending {
		if c.off == 0 {
			break
		}
		lines += bytes.Count(c.buf[c.ack:c.off], nl)
		c.ack = bytes.LastIndexByte(c.buf[:c.ack], '\n') + 1
		c.off = c.ack
	}
	if lines > 0 {
		w.linesRequeued.Add(uint64(lines))
		w.s.linesRequeued.Add(float64(lines))
	}
}

// unwritten is the index of the first pending chunk not fully written.
func (w *writer) unwritten() int {
	for i, c := range w.pending {
		if c.off < len(c.buf) {
			return i
		}
	}
	return len(w.pending)
}

// settle asks the kernel how much of what was written on the connection
// the peer has not acknowledged, and accounts the rest: its lines are sent,
// its chunks recycled. Without a readable send queue all written bytes
// count as acknowledged. It reports whether anything was.
func (w *writer) settle() bool {
	c := w.wc
	acked := false
	if c != nil && c.unacked > 0 {
		q := int64(0)
		if c.rc != nil {
			if n, ok := w.sq.read(c.rc); ok {
				q = min(int64(n), c.unacked)
			}
		}
		if d := c.unacked - q; d > 0 {
			c.unacked, c.acked, c.sinceIdle = q, c.acked+d, c.sinceIdle+d
			c.waitSince = time.Now()
			w.acknowledge(d)
			acked = true
		}
	}
	if c != nil && len(w.pending) == 0 {
		c.sinceIdle = 0
	}
	w.progressed()
	return acked
}

// acknowledge moves the acknowledged mark d bytes on through the written
// chunks: the lines it passes are sent, the chunks it completes recycled.
func (w *writer) acknowledge(d int64) {
	lines, done := 0, 0
	for _, c := range w.pending {
		m := int(min(int64(c.off-c.ack), d))
		lines += bytes.Count(c.buf[c.ack:c.ack+m], nl)
		c.ack += m
		d -= int64(m)
		if c.ack < len(c.buf) {
			break
		}
		done++
	}
	w.release(done, lines)
}

// release recycles the first done pending chunks, all acknowledged, and
// counts lines as sent.
func (w *writer) release(done, lines int) {
	w.recycle(w.pending[:done], lines)
	n := copy(w.pending, w.pending[done:])
	clear(w.pending[n:])
	w.pending = w.pending[:n]
}

var nl = []byte{'\n'}

// exit runs as the writer ends: what the peer has not acknowledged is
// dropped as unacknowledged, the rest that is left with the close reason.
func (w *writer) exit() {
	w.closeConn(false) // settles first: what is left unacknowledged is final
	unacked := 0
	for _, c := range w.pending {
		unacked += bytes.Count(c.buf[c.ack:c.off], nl)
	}
	w.dropLeft(w.pending, unacked)
	w.changed()
}

// dropLeft counts everything still queued or pending as dropped: the
// unacked lines written and not acknowledged as unacknowledged, the others
// with the close reason. It runs once, as the writer exits.
func (b *Backend) dropLeft(pending []*chunk, unacked int) {
	lines := 0
	for _, c := range pending {
		lines += bytes.Count(c.buf[c.ack:], nl)
	}
	b.mu.Lock()
	for _, c := range b.chunks {
		lines += bytes.Count(c.buf, nl)
	}
	clear(b.chunks)
	b.chunks = b.chunks[:0]
	left, leftLines := b.total, b.queuedLines
	b.total, b.queued, b.queuedLines = 0, 0, 0
	b.closed = true
	d := b.closeDrop
	if d == nil {
		d = b.drops[1]
		b.closeDrop = d
	}
	b.unackedDrops.add(unacked)
	d.add(lines - unacked)
	b.mu.Unlock()
	if b.budget != nil {
		b.budget.give(left)
	}
	b.s.queueBytes.Sub(float64(left))
	b.s.queueLines.Sub(float64(leftLines))
}

func (b *Backend) closedAndEmpty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed && len(b.chunks) == 0
}

func (b *Backend) recordErr(err error) {
	b.lastErr.Store(&errRecord{msg: err.Error(), at: time.Now()})
}

// sleep waits d, or until the backend is aborted (false). With exitIfDone,
// a Close that leaves nothing to send also ends the wait (false), so closing
// an idle backend that is down does not wait out the backoff.
func (b *Backend) sleep(t *time.Timer, d time.Duration, exitIfDone bool) bool {
	t.Reset(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-b.ctx.Done():
			return false
		case <-b.wake:
			if exitIfDone && b.closedAndEmpty() {
				return false
			}
		}
	}
}

// take blocks until lines are queued and moves them all to dst. waited
// reports whether it had to wait (the connection sat idle). With poll > 0
// it waits at most that long, then returns with polled set. It returns
// nothing when the backend is closed and empty, or aborted.
func (b *Backend) take(dst []*chunk, t *time.Timer, poll time.Duration) (_ []*chunk, waited, polled bool) {
	b.mu.Lock()
	for len(b.chunks) == 0 {
		if b.closed {
			b.mu.Unlock()
			return dst, waited, false
		}
		b.idle = true
		b.mu.Unlock()
		waited = true
		b.changed()
		var expired <-chan time.Time
		if poll > 0 {
			t.Reset(poll)
			expired = t.C
		}
		select {
		case <-b.wake:
		case <-expired:
			polled = true
		case <-b.ctx.Done():
		}
		t.Stop()
		b.mu.Lock()
		if polled || b.ctx.Err() != nil {
			b.idle = false
			b.mu.Unlock()
			return dst, waited, polled
		}
	}
	if b.cfg.FlushInterval.Duration > 0 && !b.closed && b.queued < int64(b.batch) {
		// Coalesce: give the batch up to FlushInterval to fill.
		b.filling = true
		b.mu.Unlock()
		t.Reset(b.cfg.FlushInterval.Duration)
		select {
		case <-b.wake:
		case <-t.C:
		case <-b.ctx.Done():
		}
		t.Stop()
		b.mu.Lock()
		b.filling = false
	}
	b.idle = false
	dst = append(dst, b.chunks...)
	clear(b.chunks)
	b.chunks = b.chunks[:0]
	b.queued = 0
	b.mu.Unlock()
	return dst, waited, false
}

// write sends the pending chunks not yet written, in order, settling after
// each write what the peer acknowledged. On error the chunks keep their
// offsets (the failed write's part counted as written); closeConn rewinds.
func (w *writer) write() error {
	for {
		i := w.unwritten()
		if i == len(w.pending) {
			return nil
		}
		var n int64
		var err error
		if w.network == "udp" {
			n, err = w.writeDatagrams(w.wc, w.pending[i])
		} else {
			n, err = w.writeStream(w.wc, w.pending[i:])
		}
		if w.wc.unacked == 0 && n > 0 {
			w.wc.waitSince = time.Now()
		}
		w.wc.unacked += n
		w.settle()
		if err != nil {
			return err
		}
		if w.overdue() {
			return w.errNoAck()
		}
	}
}

// setDeadline arms the write deadline unless Close has aborted; connMu
// orders it against abort's deadline in the past.
func (b *Backend) setDeadline(conn net.Conn) error {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.ctx.Err() != nil {
		return errAborted
	}
	return conn.SetWriteDeadline(time.Now().Add(b.cfg.WriteTimeout.Duration))
}

// writeStream makes one write (a writev when it spans chunks) of up to
// batch_bytes from the head of p, moves the chunks' written offsets on and
// returns how many bytes it wrote.
func (b *Backend) writeStream(conn net.Conn, p []*chunk) (int64, error) {
	bufs := b.iov[:0]
	size := 0
	for _, c := range p {
		rest := len(c.buf) - c.off
		if size > 0 && size+rest > b.batch {
			break
		}
		bufs = append(bufs, c.buf[c.off:])
		size += rest
	}
	b.iov = bufs[:0]
	if err := b.setDeadline(conn); err != nil {
		return 0, err
	}
	var n int64
	var err error
	if len(bufs) == 1 {
		var k int
		k, err = conn.Write(bufs[0])
		n = int64(k)
	} else {
		v := net.Buffers(bufs)
		n, err = v.WriteTo(conn)
	}
	clear(bufs)
	b.writes.Add(1)
	b.s.writes.Inc()
	b.bytesSent.Add(uint64(n))
	b.s.bytesSent.Add(float64(n))
	left := n
	for _, c := range p {
		if left == 0 {
			break
		}
		m := min(int64(len(c.buf)-c.off), left)
		c.off += int(m)
		left -= m
	}
	return n, err
}

// writeDatagrams sends c as datagrams of whole lines of at most
// udp_max_datagram bytes (a longer line goes alone in a bigger datagram).
// A datagram has no acknowledgement: what is written is settled as sent at
// once, so it returns 0 bytes left to acknowledge.
func (w *writer) writeDatagrams(conn net.Conn, c *chunk) (int64, error) {
	b := w.Backend
	max := int(b.cfg.UDPMaxDatagram)
	if err := b.setDeadline(conn); err != nil {
		return 0, err
	}
	var err error
	sent, dropped := 0, 0
	for c.off < len(c.buf) {
		rest := c.buf[c.off:]
		end := len(rest)
		if end > max {
			if i := bytes.LastIndexByte(rest[:max], '\n'); i >= 0 {
				end = i + 1
			} else if j := bytes.IndexByte(rest, '\n'); j >= 0 {
				end = j + 1
			}
		}
		_, err = conn.Write(rest[:end])
		if err != nil {
			if !errors.Is(err, syscall.EMSGSIZE) {
				break
			}
			// No datagram can carry this line: drop it, go on.
			err = nil
			dropped += bytes.Count(rest[:end], nl)
		} else {
			b.writes.Add(1)
			b.s.writes.Inc()
			b.bytesSent.Add(uint64(end))
			b.s.bytesSent.Add(float64(end))
			sent += bytes.Count(rest[:end], nl)
		}
		c.off += end
	}
	// c is the head of pending: datagrams before it were all settled.
	c.ack = c.off
	done := 0
	if c.ack == len(c.buf) {
		done = 1
	}
	w.release(done, sent)
	b.dropWritten(b.writeDrops, dropped)
	return 0, err
}
