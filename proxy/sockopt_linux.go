package proxy

import (
	"net"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// setReadBufferForce raises SO_RCVBUF past net.core.rmem_max when the
// process may (CAP_NET_ADMIN); otherwise the kernel's cap stands and the
// effective size is logged.
func setReadBufferForce(uc *net.UDPConn, size int, log *zap.Logger) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	var got int
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
		got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	log.Info("udp receive buffer", zap.Int("asked", size), zap.Int("kernel_reports", got))
}

// inQueue returns the bytes waiting in a stream socket's receive queue
// (SIOCINQ), so a stopping listener reads what the kernel already holds and
// no more. ok is false when it cannot tell.
func inQueue(c any) (n int, ok bool) {
	sc, isSC := c.(syscall.Conn)
	if !isSC {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ierr != nil {
		return 0, false
	}
	return n, true
}
