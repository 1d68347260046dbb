package backend

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// errAborted is returned by writes once Close has given up draining.
var errAborted = errors.New("backend closed")

// run is the writer goroutine: connect, take what is queued, write it,
// reconnect on failure; on exit count what is left and close the conn.
func (b *Backend) run() {
	defer close(b.done)
	var (
		conn     net.Conn
		pending  []*chunk // taken from the queue, not yet fully sent, in order
		attempt  int      // consecutive failures, for the backoff
		dialed   bool     // a dial was attempted before (the next is a reconnect)
		downTime time.Time
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for b.ctx.Err() == nil {
		if conn == nil {
			if len(pending) == 0 && b.closedAndEmpty() {
				break
			}
			if dialed {
				b.reconnects.Add(1)
				b.s.reconnects.Inc()
			}
			dialed = true
			c, err := b.dialer.DialContext(b.ctx, b.network, b.addr)
			if err != nil {
				if b.ctx.Err() != nil {
					break
				}
				// The error before the count: whoever sees the count sees it.
				err = fmt.Errorf("failed to connect to backend %q: %w", b.server.String(), err)
				b.recordErr(err)
				b.dialErrors.Add(1)
				b.s.dialErrors.Inc()
				b.changed()
				if downTime.IsZero() {
					downTime = time.Now()
					b.log.Warn("backend down", zap.Error(err))
				} else {
					b.log.Debug("backend still down", zap.Error(err))
				}
				if !b.sleep(timer, backoff(attempt, b.cfg.ReconnectMin.Duration, b.cfg.ReconnectMax.Duration, b.jitter()), len(pending) == 0) {
					break
				}
				attempt++
				continue
			}
			conn = c
			b.setConn(c)
			b.m.setUp(b.s, true) // the gauge before Stats().Up, as below
			b.up.Store(true)
			b.changed()
			if !downTime.IsZero() {
				b.log.Info("backend up", zap.Duration("down_for", time.Since(downTime)))
				downTime = time.Time{}
			} else {
				b.log.Debug("backend connected")
			}
		}
		if len(pending) == 0 {
			var waited bool
			pending, waited = b.take(pending, timer)
			if len(pending) == 0 {
				break
			}
			if waited && b.network != "udp" && peerClosed(conn) {
				// The backend went away while we were idle: reconnect
				// before writing into a socket that would lose the batch.
				b.dropConn(&conn)
				downTime = time.Now()
				b.log.Warn("backend closed the connection")
				b.recordErr(fmt.Errorf("failed to write to backend %q: connection closed by peer", b.server.String()))
				continue
			}
		}
		err := b.write(conn, &pending)
		if err == nil {
			b.changed()
			attempt = 0
			continue
		}
		b.dropConn(&conn)
		if b.ctx.Err() != nil {
			break
		}
		err = fmt.Errorf("failed to write to backend %q: %w", b.server.String(), err)
		b.recordErr(err)
		b.writeErrors.Add(1)
		b.s.writeErrors.Inc()
		b.changed()
		downTime = time.Now()
		b.log.Warn("backend down", zap.Error(err))
		if !b.sleep(timer, backoff(attempt, b.cfg.ReconnectMin.Duration, b.cfg.ReconnectMax.Duration, b.jitter()), false) {
			break
		}
		attempt++
	}
	b.dropConn(&conn)
	b.dropLeft(pending)
	b.changed()
}

func (b *Backend) setConn(c net.Conn) {
	b.connMu.Lock()
	b.conn = c
	b.connMu.Unlock()
}

// dropConn closes *conn (if any) and marks the backend down.
func (b *Backend) dropConn(conn *net.Conn) {
	if *conn == nil {
		return
	}
	b.setConn(nil)
	_ = (*conn).Close()
	*conn = nil
	b.m.setUp(b.s, false)
	b.up.Store(false)
	b.changed()
}

// dropLeft counts everything still queued or pending as dropped with the
// close reason. It runs once, as the writer exits.
func (b *Backend) dropLeft(pending []*chunk) {
	lines := 0
	for _, c := range pending {
		lines += bytes.Count(c.buf[c.off:], []byte{'\n'})
	}
	b.mu.Lock()
	for _, c := range b.chunks {
		lines += bytes.Count(c.buf, []byte{'\n'})
	}
	clear(b.chunks)
	b.chunks = b.chunks[:0]
	left := b.total
	b.total, b.queued = 0, 0
	b.closed = true
	d := b.closeDrop
	if d == nil {
		d = b.drops[1]
		b.closeDrop = d
	}
	b.mu.Unlock()
	if b.budget != nil {
		b.budget.give(left)
	}
	b.s.queueBytes.Sub(float64(left))
	d.add(lines)
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
// reports whether it had to wait (the connection sat idle). It returns
// nothing when the backend is closed and empty, or aborted.
func (b *Backend) take(dst []*chunk, t *time.Timer) (_ []*chunk, waited bool) {
	b.mu.Lock()
	for len(b.chunks) == 0 {
		if b.closed {
			b.mu.Unlock()
			return dst, waited
		}
		b.idle = true
		b.mu.Unlock()
		waited = true
		b.changed()
		select {
		case <-b.wake:
		case <-b.ctx.Done():
			b.mu.Lock()
			b.idle = false
			b.mu.Unlock()
			return dst, waited
		}
		b.mu.Lock()
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
	return dst, waited
}

// write sends the pending chunks in order, recycling them once sent. On
// error *pending keeps what is unsent, the first chunk's offset at the start
// of the line the failed write tore.
func (b *Backend) write(conn net.Conn, pending *[]*chunk) error {
	p := *pending
	var err error
	done := 0 // chunks fully sent
	for done < len(p) && err == nil {
		if b.network == "udp" {
			if err = b.writeDatagrams(conn, p[done]); err == nil {
				b.recycle(p[done])
				done++
			}
			continue
		}
		var k int
		k, err = b.writeStream(conn, p[done:])
		b.recycle(p[done : done+k]...)
		done += k
	}
	n := copy(p, p[done:])
	clear(p[n:])
	*pending = p[:n]
	return err
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
// batch_bytes from the head of p and returns how many chunks it completed.
// On error the chunk it stopped in is rewound to the start of the torn line.
func (b *Backend) writeStream(conn net.Conn, p []*chunk) (int, error) {
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
	lines, done := 0, 0
	for _, c := range p {
		if n == 0 {
			break
		}
		m := min(int64(len(c.buf)-c.off), n)
		lines += bytes.Count(c.buf[c.off:c.off+int(m)], []byte{'\n'})
		c.off += int(m)
		n -= m
		if c.off == len(c.buf) {
			done++
		}
	}
	if lines > 0 {
		b.linesSent.Add(uint64(lines))
		b.s.linesSent.Add(float64(lines))
	}
	if err != nil && done < len(p) {
		// Resend from the start of the torn line, never half of it.
		c := p[done]
		c.off = bytes.LastIndexByte(c.buf[:c.off], '\n') + 1
	}
	return done, err
}

// writeDatagrams sends c as datagrams of whole lines of at most
// udp_max_datagram bytes (a longer line goes alone in a bigger datagram).
func (b *Backend) writeDatagrams(conn net.Conn, c *chunk) error {
	max := int(b.cfg.UDPMaxDatagram)
	if err := b.setDeadline(conn); err != nil {
		return err
	}
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
		_, err := conn.Write(rest[:end])
		if err != nil {
			if errors.Is(err, syscall.EMSGSIZE) {
				// No datagram can carry this line: drop it, go on.
				b.writeDrops.add(bytes.Count(rest[:end], []byte{'\n'}))
				c.off += end
				continue
			}
			return err
		}
		b.writes.Add(1)
		b.s.writes.Inc()
		b.bytesSent.Add(uint64(end))
		b.s.bytesSent.Add(float64(end))
		lines := bytes.Count(rest[:end], []byte{'\n'})
		b.linesSent.Add(uint64(lines))
		b.s.linesSent.Add(float64(lines))
		c.off += end
	}
	return nil
}
