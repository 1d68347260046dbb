//go:build !linux

package proxy

import (
	"net"

	"go.uber.org/zap"
)

func setReadBufferForce(*net.UDPConn, int, *zap.Logger) {}
