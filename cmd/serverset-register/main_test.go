package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"ringrelay/discovery"
	"ringrelay/internal/zktest"
)

func backend(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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

func adminConn(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, 4*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// waitMembers polls the serverset until it has n member znodes.
func waitMembers(t *testing.T, conn *zk.Conn, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		children, _, err := conn.Children(path)
		var members []string
		for _, c := range children {
			if discovery.IsMemberName(c) {
				members = append(members, c)
			}
		}
		if (err == nil || err == zk.ErrNoNode) && len(members) == n {
			return members
		}
		if time.Now().After(deadline) {
			t.Fatalf("serverset %s has members %v (err %v); want %d", path, members, err, n)
		}
		time.Sleep(20 * time.Millisecond) // polling: an external view of ZooKeeper
	}
}

func TestRun(t *testing.T) {
	zks := zktest.Start(t)
	b := backend(t)
	port := b.Addr().(*net.TCPAddr).Port
	const path = "/discovery/test/cmd"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type startedT struct {
		r       *discovery.Registrar
		metrics string
	}
	started := make(chan startedT, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-zk", zks.Addr(), "-path", path, "-host", "127.0.0.1", "-port", strconv.Itoa(port),
			"-additional", "admin=127.0.0.1:9990", "-shard", "3", "-metadata", "zone=a",
			"-check", "tcp://" + b.Addr().String(), "-interval", "100ms", "-rise", "2", "-fall", "2",
			"-session-timeout", "2s", "-metrics", "127.0.0.1:0"}, io.Discard, func(r *discovery.Registrar, m string) {
			started <- startedT{r, m}
		})
	}()
	var st startedT
	select {
	case st = <-started:
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	}
	admin := adminConn(t, zks.Addr())
	members := waitMembers(t, admin, path, 1)
	data, _, err := admin.Get(path + "/" + members[0])
	want := `{"serviceEndpoint":{"host":"127.0.0.1","port":` + strconv.Itoa(port) +
		`},"additionalEndpoints":{"admin":{"host":"127.0.0.1","port":9990}},"status":"ALIVE","shard":3,"metadata":{"zone":"a"}}`
	if err != nil || string(data) != want {
		t.Errorf("member data %s, %v; want %s", data, err, want)
	}
	resp, err := http.Get("http://" + st.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{"ringrelay_register_registered 1", "ringrelay_register_healthy 1",
		"ringrelay_register_zookeeper_connected 1", "ringrelay_register_registrations_total 1", `ringrelay_register_checks_total{result="pass"}`} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	b.Close() // the backend goes down: after -fall failures the member leaves
	waitMembers(t, admin, path, 0)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run = %v after cancel, want nil", err)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "1", "-check", "ftp://x"},
		{"-zk", "127.0.0.1:1", "-path", "a", "-host", "h", "-port", "1", "-check", "tcp://h:1"},
		{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "0", "-check", "tcp://h:1"},
		{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "1", "-check", "tcp://h:1", "-interval", "1s", "-timeout", "1s"},
		{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "1", "-check", "tcp://h:1", "-additional", "x"},
		{"-path", "/a", "-host", "h", "-port", "1", "-check", "tcp://h:1"},
		{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "1", "-check", "tcp://h:1", "-shard", "4294967296"},
		{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "1", "-check", "tcp://h:1", "-shard", "2147483648"},
	} {
		// Cancelled: if the flags were wrongly accepted, run returns nil at
		// once instead of registering until the test times out.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := run(ctx, args, io.Discard, nil); err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
	}
}

// TestBinary builds the binary and runs it as a process: SIGTERM removes
// the member at once (not after the session timeout) and exits 0; a freeze
// past the session timeout (kill -STOP/-CONT) ends with exactly one member.
func TestBinary(t *testing.T) {
	zks := zktest.Start(t, zktest.WithMaxSessionTimeout(30*time.Second))
	bin := filepath.Join(t.TempDir(), "serverset-register")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b := backend(t)
	defer b.Close()
	admin := adminConn(t, zks.Addr())
	start := func(t *testing.T, path, session string) (*exec.Cmd, chan error) {
		cmd := exec.Command(bin, "-zk", zks.Addr(), "-path", path, "-host", "127.0.0.1",
			"-port", strconv.Itoa(b.Addr().(*net.TCPAddr).Port), "-check", "tcp://"+b.Addr().String(),
			"-interval", "100ms", "-rise", "1", "-session-timeout", session)
		var logs bytes.Buffer // read only after the process exited
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			err := <-exited
			exited <- err
			if t.Failed() {
				t.Logf("serverset-register logs:\n%s", logs.String())
			}
		})
		return cmd, exited
	}
	sigterm := func(t *testing.T, cmd *exec.Cmd, exited chan error) time.Duration {
		begin := time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			exited <- err
			if err != nil {
				t.Errorf("exit after SIGTERM: %v, want status 0", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("still running 5s after SIGTERM")
		}
		return time.Since(begin)
	}

	t.Run("SIGTERM leaves at once", func(t *testing.T) {
		const path = "/discovery/test/sigterm"
		cmd, exited := start(t, path, "20s")
		waitMembers(t, admin, path, 1)
		took := sigterm(t, cmd, exited)
		children, _, err := admin.Children(path)
		if err != nil || len(children) != 0 {
			t.Errorf("after exit: children %v, %v; want none (session timeout is 20s, so it must have left itself)", children, err)
		}
		t.Logf("SIGTERM -> exited with the member gone in %v", took)
		if took > 2*time.Second {
			t.Errorf("SIGTERM took %v; want it at once", took)
		}
	})

	t.Run("freeze past the session timeout", func(t *testing.T) {
		const path = "/discovery/test/freeze"
		cmd, exited := start(t, path, "1s")
		before := waitMembers(t, admin, path, 1)
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitMembers(t, admin, path, 0) // the server expired the frozen session
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		after := waitMembers(t, admin, path, 1)
		if after[0] == before[0] {
			t.Errorf("member %s after the freeze is the old one; want a new member", after[0])
		}
		time.Sleep(time.Second) // several check intervals: no second member may appear
		if again := waitMembers(t, admin, path, 1); again[0] != after[0] {
			t.Errorf("member changed from %s to %s without a new expiry", after[0], again[0])
		}
		sigterm(t, cmd, exited)
	})
}
