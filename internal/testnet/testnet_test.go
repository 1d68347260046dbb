package testnet

import (
	"net"
	"testing"
)

// TestHoldPort: a held port refuses dials and cannot be listened on; once
// released it can.
func TestHoldPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	release := HoldPort("tcp", addr)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a dial to a held port succeeded")
	}
	if l2, err := net.Listen("tcp", addr); err == nil {
		l2.Close()
		t.Fatal("another listener took a held port")
	}
	release()
	release() // idempotent
	l3, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen after release: %v", err)
	}
	l3.Close()
}
