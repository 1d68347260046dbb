package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/internal/buildinfo"
	"ringrelay/internal/testio"
	"ringrelay/proxy"
)

// TestStrayArgumentsAreRefused: relay and its subcommands take flags only;
// an argument they would ignore (the config file given without -config,
// a misspelt subcommand) is refused with exit code 2, names the argument,
// and validates nothing.
func TestStrayArgumentsAreRefused(t *testing.T) {
	good := writeConfig(t, goodConfig+"\n[aggregators.st]\nkind = \"statsd\"\noutput = [\"carbon\"]\n")
	for _, tc := range []struct {
		args []string
		want []string // in stderr
	}{
		{[]string{"-check-config", "broken.toml"}, []string{`unexpected argument "broken.toml"`, "-config broken.toml"}},
		{[]string{"-check-config", "-config", good, "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"-config", good, "a", "b"}, []string{`unexpected arguments "a" "b"`}},
		{[]string{"broken.toml"}, []string{`unknown subcommand "broken.toml"`, "route and aggregate", "-config broken.toml"}},
		{[]string{"serve", "-config", good}, []string{`unknown subcommand "serve"`}},
		{[]string{"route", "-config", good, "-pool", "carbon", "extra"}, []string{`relay route: unexpected argument "extra"`}},
		{[]string{"route", "-pool", "carbon", "relay.toml"}, []string{`unexpected argument "relay.toml"`, "-config relay.toml"}},
		{[]string{"route", "-config", good, "x", "-pool", "carbon"}, []string{`unexpected arguments "x" "-pool" "carbon"`, "not read"}},
		{[]string{"aggregate", "-config", good, "-aggregator", "st", "extra"}, []string{`relay aggregate: unexpected argument "extra"`}},
		{[]string{"-version", "now"}, []string{`unexpected argument "now"`}},
	} {
		code, out, errs := runArgs(t, "a.b 1 1\n", tc.args...)
		if code != 2 || out != "" {
			t.Errorf("relay %q: code %d, stdout %q; want 2 and nothing on stdout", tc.args, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("relay %q: stderr %q does not say %q", tc.args, errs, w)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, errs := runArgs(t, "", "-version")
	if want := "relay " + buildinfo.Read().String() + "\n"; code != 0 || out != want {
		t.Errorf("relay -version: code %d, stdout %q, stderr %q; want 0 and %q", code, out, errs, want)
	}
	if !strings.Contains(out, " go1.") {
		t.Errorf("relay -version %q does not name the Go version", out)
	}
}

// TestBuildInfoMetric: the running relay says which build it is on
// /metrics.
func TestBuildInfoMetric(t *testing.T) {
	r := startServe(t, goodConfig, zap.NewNop())
	mfs, err := r.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	bi := buildinfo.Read()
	want := map[string]string{"version": bi.Version, "revision": bi.RevisionLabel(), "goversion": bi.GoVersion}
	for _, mf := range mfs {
		if mf.GetName() != "ringrelay_build_info" {
			continue
		}
		m := mf.GetMetric()
		got := map[string]string{}
		for _, lp := range m[0].GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if len(m) != 1 || m[0].GetGauge().GetValue() != 1 || !reflect.DeepEqual(got, want) {
			t.Errorf("ringrelay_build_info = %v, want one series %v = 1", m, want)
		}
		return
	}
	t.Error("no ringrelay_build_info on the relay's registry")
}

// TestLogFormat: -log-format picks the one format of everything the
// process reports after its flags, for the relay and its subcommands;
// errors an operator can fix carry no stack trace; a bad format or level
// is refused naming it.
func TestLogFormat(t *testing.T) {
	bad := writeConfig(t, strings.Replace(goodConfig, "replication = 2", "replicaton = 2", 1))
	for _, args := range [][]string{
		{"-check-config", "-config", bad},
		{"-config", bad},
		{"route", "-config", bad, "-pool", "carbon"},
		{"aggregate", "-config", bad, "-aggregator", "st"},
	} {
		code, _, errs := runArgs(t, "", append(args, "-log-format", "json")...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != 1 || len(lines) != 1 {
			t.Errorf("relay %q -log-format json: code %d, stderr %q; want 1 and one log line", args, code, errs)
			continue
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
			t.Errorf("relay %q -log-format json: stderr line %q is not JSON: %v", args, lines[0], err)
			continue
		}
		if entry["level"] != "error" || entry["msg"] != "invalid config" || entry["config"] != bad ||
			!strings.Contains(fmt.Sprint(entry["error"]), "replicaton") || entry["stacktrace"] != nil {
			t.Errorf("relay %q -log-format json: entry %v; want level error, msg invalid config, config %q, the error, no stacktrace", args, entry, bad)
		}

		code, _, errs = runArgs(t, "", append(args, "-log-format", "text")...)
		fields := strings.Split(strings.TrimSpace(errs), "\t")
		if code != 1 || strings.Count(errs, "\n") != 1 || len(fields) != 5 || fields[1] != "error" || fields[3] != "invalid config" ||
			!strings.HasPrefix(fields[4], "{") || !strings.Contains(fields[4], "replicaton") {
			t.Errorf("relay %q -log-format text: code %d, stderr %q; want one line: time, level, caller, message, JSON fields", args, code, errs)
		}
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"-log-format", "xml", "-check-config"}},
		{[]string{"route", "-pool", "carbon", "-log-format", "xml"}},
		{[]string{"aggregate", "-config", bad, "-aggregator", "st", "-log-format", "xml"}},
	} {
		if code, _, errs := runArgs(t, "", tc.args...); code != 2 || !strings.Contains(errs, `bad -log-format "xml": want text or json`) {
			t.Errorf("relay %q: code %d, stderr %q; want 2 naming the format", tc.args, code, errs)
		}
	}
	if code, _, errs := runArgs(t, "", "-log-level", "loud", "-check-config"); code != 2 || !strings.Contains(errs, `bad -log-level "loud"`) {
		t.Errorf("relay -log-level loud: code %d, stderr %q; want 2 naming the level", code, errs)
	}
}

func jsonLogger(t *testing.T, w *testio.SyncBuffer) *zap.Logger {
	t.Helper()
	format, level := "json", "debug"
	log, err := logFlags{level: &level, format: &format}.logger(w)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// TestLogLinesCarryEachFieldOnce: a key bound by an outer component and
// again by an inner one, or given twice to one call, is written once
// (the outer, first value); the relay's own lines (a backend that is down,
// whose logger the pool handed over with the pool bound) too.
func TestLogLinesCarryEachFieldOnce(t *testing.T) {
	var w testio.SyncBuffer
	log := jsonLogger(t, &w)
	log.With(zap.String("pool", "a")).Named("backend").
		With(zap.String("pool", "a"), zap.String("backend", "b")).
		Error("backend down", zap.String("backend", "c"), zap.String("k", "1"), zap.String("k", "2"), zap.Error(errors.New("refused")))
	line := strings.TrimSpace(w.String())
	for key, want := range map[string]string{"pool": "a", "backend": "b", "k": "1"} {
		if n := strings.Count(line, `"`+key+`":`); n != 1 || !strings.Contains(line, fmt.Sprintf(`"%s":"%s"`, key, want)) {
			t.Errorf("key %q written %d times in %s; want once, %q", key, n, line, want)
		}
	}
	if strings.Contains(line, "stacktrace") {
		t.Errorf("an Error line carries a stack trace: %s", line)
	}
	log.DPanic("a bug")
	if !strings.Contains(w.String(), `"stacktrace":`) {
		t.Errorf("a DPanic line carries no stack trace: %s", w.String())
	}

	// The relay itself: its backend of a dead server logs "backend down".
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	dead.Close()
	var rw testio.SyncBuffer
	startServe(t, strings.Replace(goodConfig, `servers = ["127.0.2.1:2003=a", "tcp://127.0.2.2:2003", "127.0.2.3:2003=c"]`,
		fmt.Sprintf("servers = [%q, \"127.0.2.2:2003=b\"]", addr+"=a"), 1), jsonLogger(t, &rw))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(rw.String(), `"msg":"backend down"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no backend down line in the relay's log:\n%s", rw.String())
		}
		time.Sleep(10 * time.Millisecond) // polling: the log has no change event
	}
	for _, l := range strings.Split(strings.TrimSpace(rw.String()), "\n") {
		var entry map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &entry); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		for key := range entry {
			if n := strings.Count(l, `"`+key+`":`); n > 1 {
				t.Errorf("key %q written %d times: %s", key, n, l)
			}
		}
	}
}

// startServe runs the relay's serve loop on cfgText until the test ends.
func startServe(t *testing.T, cfgText string, log *zap.Logger) *proxy.Relay {
	t.Helper()
	cfg, err := proxy.LoadConfig([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	started := make(chan *proxy.Relay, 1)
	done := make(chan int, 1)
	go func() { done <- serveSignals(cfg, "", log, sig, started) }()
	var r *proxy.Relay
	select {
	case r = <-started:
	case code := <-done:
		t.Fatalf("relay exited with %d before it started", code)
	}
	t.Cleanup(func() {
		sig <- syscall.SIGTERM
		<-done
	})
	return r
}

// TestPrintDefaultConfigShowsEffectiveValues: -print-default-config shows
// the value each key takes, not a zero that stands for a default; what
// depends on the machine is shown commented out, saying so. What it prints
// loads back to exactly the config the relay runs on without -config.
func TestPrintDefaultConfigShowsEffectiveValues(t *testing.T) {
	code, out, errs := runArgs(t, "", "-print-default-config")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	want, err := effectiveDefaults()
	if err != nil {
		t.Fatal(err)
	}
	got, err := proxy.LoadConfig([]byte(out))
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("printed config loads as\n%+v\nwant the effective defaults\n%+v", got, want)
	}
	if got.MaxQueueBytes <= 0 || got.MaxConnections <= 0 || got.Listeners[0].MaxLine <= 0 || got.Pools["carbon"].Compat != "carbon-c-relay" {
		t.Errorf("effective defaults still hold zeros: %+v", got)
	}
	zero := regexp.MustCompile(`(?m)^(\w+) = ('0'|0|'')$`)
	for _, m := range zero.FindAllStringSubmatch(out, -1) {
		switch m[1] {
		case "state_dir", "token", "token_file", "metrics_listen", "auth", "aggregator", "regex", "serverset", "endpoint", "instance_from", "member_scheme",
			"listen", "sink": // [graphiteapi]: off, or on the admin listener only
			// an empty string that means "none", not a default
		default:
			t.Errorf("printed default %q is a zero standing for a default", m[0])
		}
	}
	for _, key := range []string{"max_queue_bytes", "readers"} {
		if !regexp.MustCompile(`(?m)^# ` + key + ` = \S+ +# this machine's; the default is .+$`).MatchString(out) {
			t.Errorf("printed defaults do not show %s commented out with its meaning:\n%s", key, out)
		}
	}
}

// TestREADMEConfigMatchesPrintedDefaults: the README's configuration
// block shows the defaults -print-default-config prints, key by key, apart
// from its examples (names, addresses, servers, rules); and every key
// printed is in the README, set or commented out.
func TestREADMEConfigMatchesPrintedDefaults(t *testing.T) {
	block := readmeConfigBlock(t)
	readme, err := proxy.LoadConfig([]byte(block))
	if err != nil {
		t.Fatalf("README config does not load: %v", err)
	}
	want, err := effectiveDefaults()
	if err != nil {
		t.Fatal(err)
	}
	check := func(section string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("README %s differs from the printed defaults:\n got %+v\nwant %+v", section, got, want)
		}
	}
	check("max_queue_bytes", readme.MaxQueueBytes, want.MaxQueueBytes)
	check("max_connections", readme.MaxConnections, want.MaxConnections)
	check("shutdown_timeout", readme.ShutdownTimeout, want.ShutdownTimeout)
	check("state_dir", readme.StateDir, want.StateDir)
	check("[admin]", readme.Admin, want.Admin)
	check("[graphiteapi]", readme.GraphiteAPI, want.GraphiteAPI)
	zk := readme.ZooKeeper
	zk.Servers = want.ZooKeeper.Servers // an example
	check("[zookeeper]", zk, want.ZooKeeper)
	l, wl := readme.Listeners[0], want.Listeners[0]
	l.Name, l.Listen, l.Pool, l.Readers = wl.Name, wl.Listen, wl.Pool, wl.Readers // examples; readers is the machine's
	check("[[listeners]]", l, wl)
	p, wp := readme.Pools["carbon"], want.Pools["carbon"]
	p.Servers = wp.Servers
	check("[pools.carbon]", p, wp)

	printed, err := defaultConfigText()
	if err != nil {
		t.Fatal(err)
	}
	shown := sectionKeys(block)
	for section, keys := range sectionKeys(printed) {
		rs := section
		if strings.HasPrefix(section, "[pools.") {
			rs = "[pools.carbon]"
		}
		for key := range keys {
			if !shown[rs][key] {
				t.Errorf("README %s does not show key %s (set or commented out) that -print-default-config prints", rs, key)
			}
		}
	}
}

// readmeConfigBlock is the toml block of the README's Configuration
// section.
func readmeConfigBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Configuration")
	if i < 0 {
		t.Fatal("README has no ## Configuration section")
	}
	doc = doc[i:]
	start := strings.Index(doc, "```toml\n")
	if start < 0 {
		t.Fatal("no toml block in the README's Configuration section")
	}
	doc = doc[start+len("```toml\n"):]
	return doc[:strings.Index(doc, "```")]
}

// sectionKeys lists the keys of each [section] of TOML text, set or
// commented out ("# key = ..."), the top level as "" (with the names of
// arrays of tables: [[rules]] shows rules).
func sectionKeys(text string) map[string]map[string]bool {
	header := regexp.MustCompile(`^(\[\[?[\w.-]+\]\]?)`)
	key := regexp.MustCompile(`^(?:# )?(\w+) +=`)
	out := map[string]map[string]bool{"": {}}
	section := ""
	for _, l := range strings.Split(text, "\n") {
		if m := header.FindStringSubmatch(l); m != nil {
			section = m[1]
			if name, ok := strings.CutPrefix(section, "[["); ok {
				out[""][strings.TrimSuffix(name, "]]")] = true // an array of tables shows its key
			}
			if out[section] == nil {
				out[section] = map[string]bool{}
			}
			continue
		}
		if m := key.FindStringSubmatch(l); m != nil {
			out[section][m[1]] = true
		}
	}
	return out
}
