package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"ringrelay/discovery"
	"ringrelay/internal/testio"
	"ringrelay/internal/testnet"
	"ringrelay/internal/zktest"
)

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
	b := testnet.AcceptingListener(t)
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

func TestRunBadFlags(t *testing.T) {
	ok := []string{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "1", "-check", "tcp://h:1"}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "1", "-check", "ftp://x"}, `failed to parse check "ftp://x"`},
		{[]string{"-zk", "127.0.0.1:1", "-path", "a", "-host", "h", "-port", "1", "-check", "tcp://h:1"}, `path "a"`},
		{[]string{"-zk", "127.0.0.1:1", "-path", "/a", "-host", "h", "-port", "0", "-check", "tcp://h:1"}, "port 0"},
		{with("-interval", "1s", "-timeout", "1s"), "below the interval"},
		{with("-additional", "x"), `-additional "x"`},
		{with("-shard", "4294967296"), "-shard 4294967296"},
		{with("-shard", "2147483648"), "-shard 2147483648"},
		{with("-rise", "0"), "-rise 0: want at least 1"},
		{with("-fall", "0"), "-fall 0: want at least 1"},
		{with("-rise", "-1", "-fall", "0"), "-rise -1: want at least 1 (passes in a row that register the member)\n-fall 0: want at least 1"},
		{with("-log-format", "xml"), `-log-format "xml": want text or json`},
		{with("-log-level", "loud"), `-log-level "loud"`},
		{with("extra"), `unexpected arguments ["extra"]`},
		{[]string{"-path", "/a", "-host", "h", "-port", "1", "-check", "tcp://h:1"}, "missing required flags: -zk (see -help)"},
		{nil, "missing required flags: -zk, -path, -host, -port, -check"},
		{[]string{"-zk", "127.0.0.1:1", "-port", "2003"}, "missing required flags: -path, -host, -check"},
	} {
		// Cancelled: if the flags were wrongly accepted, run returns nil at
		// once instead of registering until the test times out.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := run(ctx, tc.args, io.Discard, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v; want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestHelpNamesTheShell(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-help"}, &out, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run(-help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"exec:CMD (run as /bin/sh -c CMD", "-maintenance-file", "-log-format", "STOPPING"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// TestDrainLogs runs the command with text logs: a drain marker and the
// maintenance file each drain the member (announced STOPPING) and undrain
// it, and the log says so, as it says every check transition and every
// ZooKeeper connect.
func TestDrainLogs(t *testing.T) {
	zks := zktest.Start(t)
	const ss, port = "/discovery/test/drain-cmd", 7401
	dir := t.TempDir()
	maintenance, healthy := filepath.Join(dir, "maintenance"), filepath.Join(dir, "healthy")
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testio.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-zk", zks.Addr(), "-path", ss, "-host", "127.0.0.1", "-port", strconv.Itoa(port),
			"-check", "exec:test -e '" + healthy + "'",
			"-interval", "100ms", "-rise", "1", "-fall", "1", "-session-timeout", "2s",
			"-maintenance-file", maintenance, "-log-format", "text"}, logs, nil)
	}()
	defer func() {
		if t.Failed() {
			t.Logf("serverset-register logs:\n%s", logs.String())
		}
	}()
	admin := adminConn(t, zks.Addr())
	status := func(want string) {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			members := waitMembers(t, admin, ss, 1)
			data, _, err := admin.Get(ss + "/" + members[0])
			if err == nil && strings.Contains(string(data), `"status":"`+want+`"`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %s is %s (%v); want status %s", members[0], data, err, want)
			}
			time.Sleep(20 * time.Millisecond) // polling: an external view of ZooKeeper
		}
	}
	status("ALIVE")
	e := discovery.Endpoint{Host: "127.0.0.1", Port: port}
	if _, err := discovery.Drain(admin, ss, e, "test"); err != nil {
		t.Fatal(err)
	}
	status("STOPPING")
	if _, err := discovery.Undrain(admin, ss, e); err != nil {
		t.Fatal(err)
	}
	status("ALIVE")
	if err := os.WriteFile(maintenance, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	status("STOPPING")
	if err := os.Remove(maintenance); err != nil {
		t.Fatal(err)
	}
	status("ALIVE")
	// A session expiry: the client is disconnected, told its session
	// expired, and connects with a new one, which registers again.
	members := waitMembers(t, admin, ss, 1)
	_, stat, err := admin.Get(ss + "/" + members[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := zks.ExpireSession(stat.EphemeralOwner, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		members := waitMembers(t, admin, ss, 1)
		_, st, err := admin.Get(ss + "/" + members[0])
		if err == nil && st.EphemeralOwner != stat.EphemeralOwner {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no member of a new session within %v", waitLimit)
		}
		time.Sleep(20 * time.Millisecond) // polling: an external view of ZooKeeper
	}
	if err := os.Remove(healthy); err != nil { // the check fails: the member leaves
		t.Fatal(err)
	}
	waitMembers(t, admin, ss, 0)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run = %v after cancel, want nil", err)
	}
	// Text lines: "TIME<TAB>LEVEL<TAB>[LOGGER<TAB>]CALLER<TAB>MESSAGE<TAB>{fields}",
	// as every ringrelay command writes them (internal/logging).
	for _, want := range []struct{ level, logger, msg string }{
		{"info", "", "exec check runs under /bin/sh -c"},
		{"info", "registrar", "first check passed"},
		{"info", "registrar", "rise reached: backend healthy"},
		{"info", "registrar", "zookeeper connected"},
		{"info", "registrar", "zookeeper disconnected; the member stays until the session expires"},
		{"info", "registrar", "zookeeper session expired"},
		{"info", "registrar", "drain marker present: draining the member"},
		{"info", "registrar", "drain marker gone: undraining the member"},
		{"info", "registrar", "maintenance file present: draining the member"},
		{"info", "registrar", "maintenance file gone: undraining the member"},
		{"info", "registrar", "check failing"},
		{"warn", "registrar", "fall reached: backend unhealthy"},
	} {
		name := ""
		if want.logger != "" {
			name = regexp.QuoteMeta(want.logger) + `\t`
		}
		re := regexp.MustCompile(`(?m)^[^\t\n]+\t` + want.level + `\t` + name + `[^\t\n]+\.go:\d+\t` + regexp.QuoteMeta(want.msg))
		if !re.MatchString(logs.String()) {
			t.Errorf("logs lack a %s line of logger %q saying %q", want.level, want.logger, want.msg)
		}
	}
	if !strings.Contains(logs.String(), `"status": "STOPPING"`) {
		t.Errorf("logs lack the STOPPING member's data")
	}
	if strings.Contains(logs.String(), `{"level"`) {
		t.Errorf("-log-format text wrote JSON lines")
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
	b := testnet.AcceptingListener(t)
	defer b.Close()
	admin := adminConn(t, zks.Addr())
	start := func(t *testing.T, path, session string) (*exec.Cmd, chan error, *testio.SyncBuffer) {
		cmd := exec.Command(bin, "-zk", zks.Addr(), "-path", path, "-host", "127.0.0.1",
			"-port", strconv.Itoa(b.Addr().(*net.TCPAddr).Port), "-check", "tcp://"+b.Addr().String(),
			"-interval", "100ms", "-rise", "1", "-session-timeout", session, "-metrics", "127.0.0.1:0")
		logs := &testio.SyncBuffer{} // written by exec's copying goroutine while the test reads it
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
	metricsAddr := func(t *testing.T, logs *testio.SyncBuffer) string {
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
