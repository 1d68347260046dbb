package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the relay binary: with
// RINGRELAY_RUN_MAIN set it runs main() (the real flag parsing and signal
// handling) instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("RINGRELAY_RUN_MAIN") == "1" {
		os.Args = append([]string{"relay"}, strings.Fields(os.Getenv("RINGRELAY_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSIGTERMDrainsAndExitsZero runs the relay as a process, sends it lines,
// and stops it with SIGTERM: every line reaches the backend and the exit
// code is 0.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n := 0
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			n++
		}
		got <- n
	}()
	cfg := writeConfig(t, fmt.Sprintf(`
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "in"
listen = "tcp://127.0.0.1:0"
pool = "carbon"

[pools.carbon]
hasher = "carbon_ch"
servers = [%q]
`, ln.Addr().String()))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RINGRELAY_RUN_MAIN=1", "RINGRELAY_ARGS=-config "+cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// The bound addresses (port 0) are logged; read them from the log.
	addrRe := regexp.MustCompile(`"listener": "in", "addr": "([^"]+)"`)
	adminRe := regexp.MustCompile(`admin listening.*"addr": "([^"]+)"`)
	logs := bufio.NewReader(stderr)
	var addr, admin string
	for addr == "" || admin == "" {
		l, err := logs.ReadString('\n')
		if err != nil {
			t.Fatalf("relay log ended before it listened: %v", err)
		}
		if m := addrRe.FindStringSubmatch(l); m != nil {
			addr = m[1]
		}
		if m := adminRe.FindStringSubmatch(l); m != nil {
			admin = m[1]
		}
	}
	go io.Copy(io.Discard, logs)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "m.%d 1 1\n", i)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Stop only once the relay has read every line (lines still in the
	// kernel's socket buffer at stop are lost, as documented).
	want := fmt.Sprintf(`ringrelay_listener_lines_received_total{listener="in"} %d`, n)
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay did not read the %d lines: no %q on /metrics", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("relay exited with %v after SIGTERM, want exit 0", err)
	}
	select {
	case lines := <-got:
		if lines != n {
			t.Errorf("backend got %d lines, want all %d drained before exit", lines, n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend connection never closed")
	}
}
