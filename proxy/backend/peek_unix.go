//go:build linux || darwin || freebsd || netbsd || openbsd

package backend

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer of a stream connection has closed it
// (or reset it), without blocking and without consuming data: a peek that
// reads EOF or fails. It lets the writer reconnect before writing a batch
// into a socket whose peer is gone, where the kernel would accept and lose
// the batch.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			closed = n == 0
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
		default:
			closed = true
		}
		return true
	})
	return err != nil || closed
}
