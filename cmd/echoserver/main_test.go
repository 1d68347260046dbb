package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ringrelay/internal/testio"
)

func TestServerCountsLinesPerListener(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "echo.sock")
	var out testio.SyncBuffer
	s, err := start([]string{"tcp://127.0.0.1:0", "udp://127.0.0.1:0", "unix://" + sock}, &out, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	addr := func(i int) (string, string) {
		proto, a, _ := strings.Cut(s.listeners[i].url, "://")
		return proto, a
	}
	send := func(i int, payloads ...string) {
		t.Helper()
		c, err := net.Dial(addr(i))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, p := range payloads {
			if _, err := c.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var tcp strings.Builder
	for i := range 100 {
		fmt.Fprintf(&tcp, "a.b.%d %d 1700000000\n", i, i)
	}
	send(0, tcp.String()[:1000], tcp.String()[1000:]) // a line split over two writes
	send(0, "x 1 2\n")
	send(1, "s.a:1|c\ns.b:2|c\n", "s.c:1|c\ns.d:1|c") // last line of a datagram without '\n'
	send(2, "u 1 1\nu 2 2\nu 3 3\n")

	want := []int64{101, 4, 3}
	deadline := time.Now().Add(30 * time.Second) // generous: -race on a loaded machine
	for {
		got := s.counts()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("per-listener counts %v, want %v", got, want)
		}
		time.Sleep(2 * time.Millisecond) // polling: the counts have no change event
	}
	printed := out.String()
	if n := strings.Count(printed, "\n"); n != 108 || !strings.Contains(printed, "a.b.57 57 1700000000\n") || !strings.Contains(printed, "s.d:1|c\n") {
		t.Fatalf("-print wrote %d lines, want 108 whole lines including %q and %q:\n%s", n, "a.b.57 57 1700000000", "s.d:1|c", printed)
	}
}

func TestRunExitAfterPrintsFinalCount(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard, not a measure
	defer cancel()
	var stdout testio.SyncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-listen", "tcp://127.0.0.1:0", "-exit-after", "20", "-interval", "1h"}, &stdout, pw)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("no output from run: %v", sc.Err())
	}
	first := sc.Text()
	url, ok := strings.CutPrefix(first, "listening tcp://")
	if !ok {
		t.Fatalf("first line %q, want \"listening tcp://<addr>\"", first)
	}
	c, err := net.Dial("tcp", url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(strings.Repeat("k 1 1\n", 20)))
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	if got := <-code; got != 0 {
		t.Fatalf("run exit code %d, want 0", got)
	}
	if len(rest) == 0 || rest[len(rest)-1] != "final total lines=20" {
		t.Fatalf("output after the listening line %q, want it to end with %q", rest, "final total lines=20")
	}
}

func TestRunRejectsBadURL(t *testing.T) {
	for _, arg := range []string{"http://127.0.0.1:0", "127.0.0.1:2003", "tcp://"} {
		var stderr testio.SyncBuffer
		if code := run(context.Background(), []string{"-listen", arg}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), arg) {
			t.Errorf("-listen %q: exit %d, stderr %q; want 1 and an error quoting the URL", arg, code, stderr.String())
		}
	}
}
