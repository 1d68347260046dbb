//go:build !linux

package udpsock

import (
	"errors"
	"fmt"
	"net"
	"runtime"
)

var errMeminfo = fmt.Errorf("udpsock: socket memory accounting on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Drops returns how many datagrams the kernel dropped on arrival at the
// socket because its receive buffer was full. Only Linux tells: elsewhere
// the error wraps errors.ErrUnsupported.
func Drops(uc *net.UDPConn) (uint64, error) { return 0, errMeminfo }

// Pending returns the bytes of memory charged to the datagrams queued on
// the socket. Only Linux tells: elsewhere the error wraps
// errors.ErrUnsupported.
func Pending(uc *net.UDPConn) (int, error) { return 0, errMeminfo }
