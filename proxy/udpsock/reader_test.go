package udpsock

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pair returns a listening socket on loopback and a socket connected to it.
func pair(t testing.TB) (srv, cli *net.UDPConn) {
	t.Helper()
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cli, err = net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); cli.Close() })
	return srv, cli
}

func send(t testing.TB, cli *net.UDPConn, dgrams ...[]byte) {
	t.Helper()
	for _, d := range dgrams {
		if _, err := cli.Write(d); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll reads until want datagrams came and returns them, copied, and the
// sizes of the batches.
func readAll(t *testing.T, r *Reader, want int) (got [][]byte, batches []int) {
	t.Helper()
	r.uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer r.uc.SetReadDeadline(time.Time{})
	for len(got) < want {
		ds, err := r.Read()
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(got), err)
		}
		if len(ds) == 0 || len(ds) > r.Batch() {
			t.Fatalf("Read returned %d datagrams, batch %d", len(ds), r.Batch())
		}
		batches = append(batches, len(ds))
		for _, d := range ds {
			got = append(got, bytes.Clone(d))
		}
	}
	return got, batches
}

func TestReadBatch(t *testing.T) {
	srv, cli := pair(t)
	const n = 40
	var sent [][]byte
	for i := range n {
		// Sizes vary, one datagram is empty; each has a distinct content.
		d := []byte(fmt.Sprintf("dgram.%02d %s\n", i, strings.Repeat("x", i*37)))
		if i == 7 {
			d = []byte{}
		}
		sent = append(sent, d)
	}
	// Sent before the first Read: on loopback the datagrams are queued
	// on srv by the time Write returns.
	send(t, cli, sent...)

	r := NewReader(srv, 16, 2048)
	got, batches := readAll(t, r, n)
	t.Logf("batches: %v", batches)
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Errorf("datagram %d: got %q, want %q", i, got[i], sent[i])
		}
	}
	if runtime.GOOS == "linux" {
		if batches[0] < 2 {
			t.Errorf("first Read returned %d datagram(s) of %d queued, want a batch", batches[0], n)
		}
		if len(batches) > (n+15)/16+1 {
			t.Errorf("%d Reads for %d queued datagrams in batches of 16", len(batches), n)
		}
	} else if r.Batch() != 1 {
		t.Errorf("Batch() = %d without recvmmsg", r.Batch())
	}
	if r.Truncated() != 0 {
		t.Errorf("Truncated() = %d", r.Truncated())
	}
}

func TestReadTruncated(t *testing.T) {
	srv, cli := pair(t)
	const size = 100
	long := bytes.Repeat([]byte("a"), size+50)
	exact := bytes.Repeat([]byte("b"), size)
	over := bytes.Repeat([]byte("c"), size+1)
	send(t, cli, long, exact, over, []byte("short"))

	r := NewReader(srv, 8, size)
	want := [][]byte{long[:size], exact, over[:size], []byte("short")}
	wantTrunc := []bool{true, false, true, false}
	var i int
	r.uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i < len(want) {
		ds, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		for j, d := range ds {
			if !bytes.Equal(d, want[i]) {
				t.Errorf("datagram %d: got %q, want %q", i, d, want[i])
			}
			if r.WasTruncated(j) != wantTrunc[i] {
				t.Errorf("datagram %d: WasTruncated = %v", i, r.WasTruncated(j))
			}
			i++
		}
	}
	if got := r.Truncated(); got != 2 {
		t.Errorf("Truncated() = %d, want 2", got)
	}
}

// TestReadClosed closes the conn under a Read blocked in the poller.
func TestReadClosed(t *testing.T) {
	srv, _ := pair(t)
	r := NewReader(srv, 8, 1500)
	done := make(chan error, 1)
	go func() {
		_, err := r.Read()
		done <- err
	}()
	waitBlocked(t)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if _, err := r.Read(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
}

// waitBlocked waits until a goroutine sits in Reader.Read parked in the
// runtime poller, which tells from the stacks of all goroutines.
func waitBlocked(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(st, "\n\n") {
			if strings.Contains(g, "udpsock.(*Reader).Read") && strings.Contains(g, "runtime_pollWait") {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatal("Read did not block")
}

func TestReadDeadline(t *testing.T) {
	srv, _ := pair(t)
	r := NewReader(srv, 4, 1500)
	srv.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := r.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestReadDoesNotAllocate(t *testing.T) {
	srv, cli := pair(t)
	if err := srv.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	r := NewReader(srv, 8, 1500)
	msg := bytes.Repeat([]byte("m"), 1000)
	allocs := testing.AllocsPerRun(200, func() {
		// One datagram queued per run, so Read never waits; it reads it
		// whole, in a batch of one.
		if _, err := cli.Write(msg); err != nil {
			t.Fatal(err)
		}
		ds, err := r.Read()
		if err != nil || len(ds) != 1 || len(ds[0]) != len(msg) {
			t.Fatalf("Read: %d datagrams, %v", len(ds), err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Write+Read", allocs)
	}
}

func TestNewReaderLimits(t *testing.T) {
	srv, _ := pair(t)
	r := NewReader(srv, 0, 0)
	if r.Batch() != 1 || r.BufSize() != DefaultBufSize {
		t.Errorf("NewReader(0, 0): batch %d, bufSize %d", r.Batch(), r.BufSize())
	}
	r = NewReader(srv, 1<<20, 16)
	if want := min(MaxBatch, map[bool]int{true: MaxBatch, false: 1}[batchSupported]); r.Batch() != want {
		t.Errorf("NewReader(1<<20): batch %d, want %d", r.Batch(), want)
	}
}
