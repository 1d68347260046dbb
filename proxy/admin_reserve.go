package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

// reserveListener keeps one spare file descriptor for the admin API, so
// that it still answers (/metrics, /ops/status: the way an operator sees
// why) when the process has run out of them: on EMFILE or ENFILE it gives
// the spare up for one connection and takes it back when that connection
// closes.
type reserveListener struct {
	net.Listener
	mu     sync.Mutex
	spare  *os.File // nil while given up
	closed bool
}

func newReserveListener(ln net.Listener) *reserveListener {
	l := &reserveListener{Listener: ln}
	l.reopen()
	return l
}

func (l *reserveListener) reopen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spare == nil && !l.closed {
		l.spare, _ = os.Open(os.DevNull) // nil if there is still no fd to spare
	}
}

// Accept is net.Listener's; out of descriptors, it accepts one connection
// in the spare's place.
func (l *reserveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
		return c, err
	}
	l.mu.Lock()
	spare := l.spare
	l.spare = nil
	l.mu.Unlock()
	if spare == nil {
		return nil, err
	}
	spare.Close()
	c, err2 := l.Listener.Accept()
	if err2 != nil {
		l.reopen()
		return nil, err
	}
	return &reserveConn{Conn: c, l: l}, nil
}

// Close closes the listener and the spare.
func (l *reserveListener) Close() error {
	l.mu.Lock()
	l.closed = true
	if l.spare != nil {
		l.spare.Close()
		l.spare = nil
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// reserveConn is a connection that took the spare's descriptor; it gives
// it back on Close.
type reserveConn struct {
	net.Conn
	once sync.Once
	l    *reserveListener
}

func (c *reserveConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.reopen)
	return err
}
