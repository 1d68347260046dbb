//go:build !linux

package backend

import (
	"net"
	"syscall"
)

// sendQueueConn: only Linux tells how much of a socket's send queue the
// peer has not acknowledged; elsewhere what is written counts as sent.
func sendQueueConn(net.Conn) syscall.RawConn { return nil }

// sendQueue cannot read a send queue on this platform.
type sendQueue struct{}

func (*sendQueue) read(syscall.RawConn) (int, bool) { return 0, false }
