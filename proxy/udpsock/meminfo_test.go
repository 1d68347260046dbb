package udpsock

import (
	"errors"
	"net"
	"runtime"
	"testing"
	"time"
)

func TestDropsAndPending(t *testing.T) {
	srv, cli := pair(t)
	if runtime.GOOS != "linux" {
		if _, err := Drops(srv); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Drops: %v, want ErrUnsupported", err)
		}
		if _, err := Pending(srv); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Pending: %v, want ErrUnsupported", err)
		}
		return
	}
	// The kernel raises a tiny SO_RCVBUF to its minimum, a few KiB.
	if err := srv.SetReadBuffer(1); err != nil {
		t.Fatal(err)
	}
	d0, err := Drops(srv)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Pending(srv); err != nil || p != 0 {
		t.Fatalf("Pending before sending = %d, %v", p, err)
	}

	msg := make([]byte, 1000)
	send(t, cli, msg)
	if p, err := Pending(srv); err != nil || p < len(msg) {
		t.Fatalf("Pending with a datagram queued = %d, %v; want >= %d", p, err, len(msg))
	}

	// Send until the kernel reports drops: no reads, so the buffer fills.
	var sent int
	deadline := time.Now().Add(10 * time.Second)
	for {
		send(t, cli, msg)
		sent++
		d, err := Drops(srv)
		if err != nil {
			t.Fatal(err)
		}
		if d > d0 {
			t.Logf("drops %d after %d datagrams", d-d0, sent+1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no drop after %d datagrams", sent+1)
		}
	}
	// Drops count datagrams: send 10 more into the full buffer.
	d1, _ := Drops(srv)
	for range 10 {
		send(t, cli, msg)
	}
	d2, _ := Drops(srv)
	if d2 != d1+10 {
		t.Errorf("10 datagrams more into a full buffer: drops %d -> %d", d1, d2)
	}
	queued := sent + 1 + 10 - int(d2-d0)
	p, err := Pending(srv)
	if err != nil || p == 0 {
		t.Fatalf("Pending with a full buffer = %d, %v", p, err)
	}
	t.Logf("pending %d bytes for %d queued datagrams", p, queued)

	// Drain: the memory is released once the queue is empty.
	r := NewReader(srv, 64, 2048)
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	for q := queued; q > 0; {
		ds, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		q -= len(ds)
	}
	if p, err := Pending(srv); err != nil || p != 0 {
		t.Errorf("Pending after draining = %d, %v", p, err)
	}

	srv.Close()
	if _, err := Drops(srv); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Drops after Close: %v, want net.ErrClosed", err)
	}
	if _, err := Pending(srv); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Pending after Close: %v, want net.ErrClosed", err)
	}
}
