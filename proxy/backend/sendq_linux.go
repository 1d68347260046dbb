package backend

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueueConn returns what sendQueue.read needs to read c's send queue,
// or nil when it cannot be read: only TCP's is (a unix socket's SIOCOUTQ
// counts buffer memory, not bytes).
func sendQueueConn(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// sendQueue reads the bytes a TCP socket's send queue holds: written by us
// and not yet acknowledged by the peer's TCP (SIOCOUTQ). Its state lets
// read run without allocating; one goroutine uses it.
type sendQueue struct {
	n   int
	err error
	fn  func(fd uintptr)
}

// read returns the bytes rc's kernel still holds, and whether it could
// tell.
func (q *sendQueue) read(rc syscall.RawConn) (int, bool) {
	if q.fn == nil {
		q.fn = func(fd uintptr) { q.n, q.err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }
	}
	q.n, q.err = 0, nil
	if err := rc.Control(q.fn); err != nil || q.err != nil {
		return 0, false
	}
	return q.n, true
}
