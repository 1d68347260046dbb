package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/proxy"
)

func runArgs(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "relay.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "in"
listen = "tcp://127.0.0.1:0"
pool = "carbon"

[pools.carbon]
hasher = "carbon_ch"
replication = 2
servers = ["127.0.2.1:2003=a", "tcp://127.0.2.2:2003", "127.0.2.3:2003=c"]
`

func TestCheckConfig(t *testing.T) {
	if code, out, errs := runArgs(t, "", "-check-config", "-config", writeConfig(t, goodConfig)); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("good config: code %d, out %q, err %q", code, out, errs)
	}
	bad := strings.Replace(goodConfig, "replication = 2", "replication = 2\nreplicaton = 3", 1)
	code, _, errs := runArgs(t, "", "-check-config", "-config", writeConfig(t, bad))
	if code == 0 || !strings.Contains(errs, "line 13") || !strings.Contains(errs, "replicaton") {
		t.Errorf("bad config: code %d, stderr %q; want non-zero naming line 13 and the key", code, errs)
	}
	if code, _, errs := runArgs(t, "", "-check-config", "-config", "/nonexistent/relay.toml"); code == 0 || !strings.Contains(errs, "failed to read config") {
		t.Errorf("missing file: code %d, stderr %q", code, errs)
	}
}

func TestPrintDefaultConfigRoundTrips(t *testing.T) {
	code, out, errs := runArgs(t, "", "-print-default-config")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	cfg, err := proxy.LoadConfig([]byte(out))
	if err != nil {
		t.Fatalf("printed default config does not load: %v\n%s", err, out)
	}
	if len(cfg.Listeners) != len(proxy.DefaultConfig().Listeners) || len(cfg.Pools) != len(proxy.DefaultConfig().Pools) {
		t.Errorf("round trip lost sections:\n%s", out)
	}
}

func TestRouteCommand(t *testing.T) {
	path := writeConfig(t, goodConfig)
	code, out, errs := runArgs(t, "a.b.c\nfoo.bar 1 1\n", "route", "-config", path, "-pool", "carbon")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("route printed %q, want 2 lines", out)
	}
	for i, key := range []string{"a.b.c", "foo.bar"} {
		k, servers, ok := strings.Cut(lines[i], "\t")
		if !ok || k != key || len(strings.Split(servers, ",")) != 2 {
			t.Errorf("line %d = %q, want %s<TAB>two servers as written", i, lines[i], key)
		}
	}
	if code, _, errs := runArgs(t, "", "route", "-config", path); code != 2 || !strings.Contains(errs, "-pool") {
		t.Errorf("missing -pool: code %d, %q", code, errs)
	}
	if code, _, errs := runArgs(t, "", "route", "-config", path, "-pool", "nope"); code != 1 || !strings.Contains(errs, "unknown pool") {
		t.Errorf("unknown pool: code %d, %q", code, errs)
	}
}

func TestReloadKeepsRunningOnBadConfigAndSwapsOnGood(t *testing.T) {
	path := writeConfig(t, goodConfig)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	started := make(chan *proxy.Relay, 4)
	done := make(chan int, 1)
	go func() { done <- serveSignals(cfg, path, zap.NewNop(), sig, started) }()
	first := <-started
	addr := first.ListenerAddr("in")
	if c, err := net.Dial("tcp", addr.String()); err != nil {
		t.Fatalf("relay not serving: %v", err)
	} else {
		c.Close()
	}

	// A bad config is refused: no new relay, the old one still serves.
	if err := os.WriteFile(path, []byte(goodConfig+"\nbogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sig <- syscall.SIGHUP
	select {
	case <-started:
		t.Fatal("a bad config replaced the running relay")
	case <-time.After(300 * time.Millisecond):
	}
	if c, err := net.Dial("tcp", addr.String()); err != nil {
		t.Fatalf("after a refused reload the relay stopped serving: %v", err)
	} else {
		c.Close()
	}

	// A good config replaces it.
	if err := os.WriteFile(path, []byte(strings.Replace(goodConfig, "replication = 2", "replication = 1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	sig <- syscall.SIGHUP
	var second *proxy.Relay
	select {
	case second = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("good config not loaded")
	}
	if second == first || second.ListenerAddr("in") == nil {
		t.Fatal("reload did not start a new relay")
	}
	sig <- syscall.SIGTERM
	if code := <-done; code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
