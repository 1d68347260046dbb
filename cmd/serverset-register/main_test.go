package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// waitLimit bounds every wait for something to happen: generous, as the
// tests run under -race on loaded machines.
const waitLimit = 30 * time.Second

// waitMembers polls the serverset until it has n member znodes.
func waitMembers(t *testing.T, conn *zk.Conn, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
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
	// The member is visible in ZooKeeper a moment before the registrar
	// has confirmed it and counted it: wait for the metrics to catch up.
	lines := []string{"ringrelay_register_registered 1", "ringrelay_register_healthy 1",
		"ringrelay_register_zookeeper_connected 1", "ringrelay_register_registrations_total 1", `ringrelay_register_checks_total{result="pass"}`}
	deadline := time.Now().Add(waitLimit)
	for {
		body := scrape(t, st.metrics)
		var missing []string
		for _, line := range lines {
			if !strings.Contains(body, line) {
				missing = append(missing, line)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q after %v:\n%s", missing, waitLimit, body)
		}
		time.Sleep(20 * time.Millisecond) // polling: /metrics has no change event
	}
	b.Close() // the backend goes down: after -fall failures the member leaves
	waitMembers(t, admin, path, 0)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run = %v after cancel, want nil", err)
	}
}

// scrape returns the text of http://addr/metrics.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// passedChecks reads ringrelay_register_checks_total{result="pass"} from
// a /metrics text (0 when absent).
func passedChecks(t *testing.T, metrics string) float64 {
	t.Helper()
	const name = `ringrelay_register_checks_total{result="pass"} `
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("bad metric line %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// syncBuffer is a bytes.Buffer that a child process's output can be
// copied into while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
	start := func(t *testing.T, path, session string) (*exec.Cmd, chan error, *syncBuffer) {
		cmd := exec.Command(bin, "-zk", zks.Addr(), "-path", path, "-host", "127.0.0.1",
			"-port", strconv.Itoa(b.Addr().(*net.TCPAddr).Port), "-check", "tcp://"+b.Addr().String(),
			"-interval", "100ms", "-rise", "1", "-session-timeout", session, "-metrics", "127.0.0.1:0")
		logs := &syncBuffer{} // written by exec's copying goroutine while the test reads it
		cmd.Stderr = logs
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
		return cmd, exited, logs
	}
	// metricsAddr waits for the process to log where it serves /metrics.
	metricsAddr := func(t *testing.T, logs *syncBuffer) string {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			for _, line := range strings.Split(logs.String(), "\n") {
				var l struct{ Msg, Addr string }
				if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving metrics" && l.Addr != "" {
					return l.Addr
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no \"serving metrics\" log line within %v:\n%s", waitLimit, logs.String())
			}
			time.Sleep(10 * time.Millisecond) // polling: the log has no change event
		}
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
		case <-time.After(waitLimit):
			t.Fatalf("still running %v after SIGTERM", waitLimit)
		}
		return time.Since(begin)
	}

	t.Run("SIGTERM leaves at once", func(t *testing.T) {
		const path = "/discovery/test/sigterm"
		cmd, exited, _ := start(t, path, "20s")
		waitMembers(t, admin, path, 1)
		took := sigterm(t, cmd, exited)
		children, _, err := admin.Children(path)
		if err != nil || len(children) != 0 {
			t.Errorf("after exit: children %v, %v; want none (session timeout is 20s, so it must have left itself)", children, err)
		}
		t.Logf("SIGTERM -> exited with the member gone in %v", took)
		// The member being gone right after the exit is the proof (the
		// session would keep it for 20s); this only catches a shutdown
		// that waits for something, with room for a loaded machine.
		if took > 10*time.Second {
			t.Errorf("SIGTERM took %v; want it at once", took)
		}
	})

	t.Run("freeze past the session timeout", func(t *testing.T) {
		const path = "/discovery/test/freeze"
		cmd, exited, logs := start(t, path, "1s")
		metrics := metricsAddr(t, logs)
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
		// Several check intervals (counted, not timed): no second member may appear.
		const intervals = 10
		want := passedChecks(t, scrape(t, metrics)) + intervals
		deadline := time.Now().Add(waitLimit)
		for passedChecks(t, scrape(t, metrics)) < want {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d checks passed within %v", intervals, waitLimit)
			}
			time.Sleep(20 * time.Millisecond) // polling: /metrics has no change event
		}
		if again := waitMembers(t, admin, path, 1); again[0] != after[0] {
			t.Errorf("member changed from %s to %s without a new expiry", after[0], again[0])
		}
		sigterm(t, cmd, exited)
	})
}
