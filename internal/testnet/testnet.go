// Package testnet holds network helpers for tests: ports kept from other
// test processes while a test's server is down, and a listener that
// stands for a live backend.
package testnet

import (
	"net"
	"syscall"
	"testing"
)

// HoldPort binds a socket to a tcp (IPv4) addr without listening on it:
// dials to it are refused, as to a dead server, and no other test process
// (go test runs packages in parallel) can take the port until release,
// after which the caller listens on it again. It holds nothing for other
// networks or when the port is taken; release is then a no-op.
func HoldPort(network, addr string) (release func()) {
	nothing := func() {}
	if network != "tcp" {
		return nothing
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil || ta.IP.To4() == nil {
		return nothing
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nothing
	}
	// No SO_REUSEADDR: with it, another socket that sets it (every Go
	// listener) could bind the port beside this one. Without it the bind
	// fails while connections of the old server linger in TIME_WAIT; the
	// port is then not held (no worse than not trying).
	syscall.CloseOnExec(fd)
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nothing
	}
	done := false
	return func() {
		if !done {
			done = true
			syscall.Close(fd)
		}
	}
}

// Accepting listens on a free 127.0.0.1 TCP port and closes every
// connection it accepts: a live backend for tcp:// health checks. It
// stops when the test ends.
func Accepting(t testing.TB) (addr string, port int) {
	t.Helper()
	l := AcceptingListener(t)
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port
}

// AcceptingListener is Accepting's listener, for a test that takes the
// backend down (Close) before it ends.
func AcceptingListener(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}
