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
	r := <-started
	addr := r.ListenerAddr("in")
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatalf("relay not serving: %v", err)
	}
	defer c.Close()
	reloads := func(result string) float64 {
		mfs, err := r.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "ringrelay_config_reloads_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "result" && lp.GetValue() == result {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	waitReloads := func(result string, n float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for reloads(result) < n {
			if time.Now().After(deadline) {
				t.Fatalf("reloads_total{result=%q} = %v, want %v", result, reloads(result), n)
			}
			time.Sleep(5 * time.Millisecond) // polling: a counter has no change event
		}
	}

	// A bad config is refused and counted; the relay serves on, same socket.
	if err := os.WriteFile(path, []byte(goodConfig+"\nbogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sig <- syscall.SIGHUP
	waitReloads("failure", 1)
	if got := r.Pool("carbon").Config().Replication; got != 2 {
		t.Fatalf("after a refused reload replication = %d, want 2", got)
	}

	// A good config is applied to the same relay: same listener, the open
	// connection still delivers.
	if err := os.WriteFile(path, []byte(strings.Replace(goodConfig, "replication = 2", "replication = 1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	sig <- syscall.SIGHUP
	waitReloads("success", 1)
	if got := r.Pool("carbon").Config().Replication; got != 1 {
		t.Fatalf("after a good reload replication = %d, want 1", got)
	}
	if got := r.ListenerAddr("in"); got.String() != addr.String() {
		t.Fatalf("listener moved from %s to %s over a reload", addr, got)
	}
	if _, err := c.Write([]byte("a.b 1 1\n")); err != nil {
		t.Fatalf("connection opened before the reload: %v", err)
	}
	if reloads("failure") != 1 {
		t.Errorf("reloads_total{result=failure} = %v after a good reload, want 1", reloads("failure"))
	}
	sig <- syscall.SIGTERM
	if code := <-done; code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestAggregateMatchesTheOracleGolden: `relay aggregate` runs a config's
// aggregator over the statsd oracle's input and prints what the oracle
// (the real Etsy statsd) printed for it.
func TestAggregateMatchesTheOracleGolden(t *testing.T) {
	path := writeConfig(t, goodConfig+`
[aggregators.st]
kind = "statsd"
output = ["carbon"]
flush_interval = "1s"
`)
	for _, c := range []string{"counters_basic", "timers_basic", "gauges", "grammar_accepted", "tags_dogstatsd"} {
		in, err := os.ReadFile("../../aggregator/testdata/statsd/" + c + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile("../../aggregator/testdata/statsd/" + c + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		code, out, errs := runArgs(t, string(in), "aggregate", "-config", path, "-aggregator", "st")
		if code != 0 || out != string(want) {
			t.Errorf("%s: code %d, stderr %q\n got: %.400s\nwant: %.400s", c, code, errs, out, want)
		}
	}
	// "## arg: --extra-flushes=1" in the case: -extra-flushes 1 here.
	in, _ := os.ReadFile("../../aggregator/testdata/statsd/sets.txt")
	want, _ := os.ReadFile("../../aggregator/testdata/statsd/sets.golden")
	if code, out, errs := runArgs(t, string(in), "aggregate", "-config", path, "-aggregator", "st", "-extra-flushes", "1"); code != 0 || out != string(want) {
		t.Errorf("sets with -extra-flushes 1: code %d, stderr %q\n got: %.400s\nwant: %.400s", code, errs, out, want)
	}
	if code, _, errs := runArgs(t, "", "aggregate", "-config", path, "-aggregator", "nope"); code != 1 || !strings.Contains(errs, "unknown aggregator") {
		t.Errorf("unknown aggregator: code %d, %q", code, errs)
	}
	if code, _, _ := runArgs(t, "", "aggregate", "-config", path); code != 2 {
		t.Errorf("missing -aggregator: code %d, want 2", code)
	}
}
