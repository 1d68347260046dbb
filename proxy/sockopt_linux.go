package proxy

import (
	"net"
	"syscall"

	"go.uber.org/zap"
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
