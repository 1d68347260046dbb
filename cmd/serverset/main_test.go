package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"ringrelay/config"
	"ringrelay/discovery"
	"ringrelay/internal/testio"
	"ringrelay/internal/testnet"
	"ringrelay/internal/zktest"
)

// waitLimit bounds every wait for something to happen: generous, as the
// tests run under -race on loaded machines.
const waitLimit = 30 * time.Second

// runCmd runs one command to its end and returns its stdout and stderr.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// create makes a znode and its parents, returning its path.
func create(t *testing.T, conn *zk.Conn, p, data string, flags int32) string {
	t.Helper()
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(path.Dir(p), "/"), "/") {
		cur += "/" + part
		if _, err := conn.Create(cur, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	name, err := conn.Create(p, []byte(data), flags, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatalf("failed to create %q: %v", p, err)
	}
	return name
}

func memberJSON(host string, port int, extra string) string {
	return `{"serviceEndpoint":{"host":"` + host + `","port":` + strconv.Itoa(port) + `},"additionalEndpoints":{` + extra + `},"status":"ALIVE"}`
}

// lineWith returns the output line that starts with prefix.
func lineWith(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no line starting with %q in:\n%s", prefix, out)
	return ""
}

// waitOutput waits until buf holds a line matching every substring.
func waitOutput(t *testing.T, buf *testio.SyncBuffer, what string, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		for _, l := range strings.Split(buf.String(), "\n") {
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(l, s)
			}
			if ok {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s line (with %q) within %v:\n%s", what, subs, waitLimit, buf.String())
		}
		time.Sleep(10 * time.Millisecond) // polling: the output has no change event
	}
}

func TestServerset(t *testing.T) {
	zks := zktest.Start(t)
	admin := zktest.Client(t, zks.Addr(), 4*time.Second)
	zkFlags := func(p string) []string { return []string{"-zk", zks.Addr(), "-path", p} }

	t.Run("list shows members, drain markers, and flags the rest", func(t *testing.T) {
		const ss = "/discovery/test/list"
		good := create(t, admin, ss+"/member_",
			`{"serviceEndpoint":{"host":"127.0.0.1","port":7001},"additionalEndpoints":{"admin":{"host":"127.0.0.1","port":9990}},"status":"ALIVE","shard":3}`,
			zk.FlagEphemeralSequential)
		junk := create(t, admin, ss+"/member_", "not json", zk.FlagEphemeralSequential)
		badPort := create(t, admin, ss+"/member_", `{"serviceEndpoint":{"host":"h","port":"8080"},"status":"ALIVE"}`, zk.FlagEphemeralSequential)
		persistent := create(t, admin, ss+"/member_0000000099", memberJSON("127.0.0.1", 7002, ""), 0)
		create(t, admin, ss+"/leader", "x", 0)
		if _, err := discovery.Drain(admin, ss, discovery.Endpoint{Host: "127.0.0.1", Port: 7001}, "drained by test: disk swap"); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := runCmd(t, append([]string{"list"}, zkFlags(ss)...)...)
		if err != nil {
			t.Fatalf("list: %v\n%s", err, errOut)
		}
		owner := sessionHex(admin.SessionID())
		for _, tc := range []struct {
			znode string
			want  []string
		}{
			{path.Base(good), []string{"127.0.0.1", "7001", "ALIVE", " 3 ", "admin=127.0.0.1:9990", owner, "drain marker present"}},
			{path.Base(junk), []string{"malformed: failed to decode member", owner}},
			{path.Base(badPort), []string{"serviceEndpoint missing", "no additionalEndpoints"}},
			{path.Base(persistent), []string{"7002", "ALIVE", "persistent"}},
			{"leader", []string{"(not a member)", "not a member: the name is not member_<sequence>"}},
			{"drain-127.0.0.1:7001", []string{"(drain marker)", "drains 127.0.0.1:7001: drained by test: disk swap"}},
		} {
			line := lineWith(t, out, tc.znode+" ")
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("list row of %s lacks %q:\n%s", tc.znode, w, line)
				}
			}
		}
		if want := "4 members (1 usable: ALIVE and well-formed), 1 drain markers, 4 flagged"; !strings.Contains(out, want) {
			t.Errorf("list output lacks the summary %q:\n%s", want, out)
		}

		out, errOut, err = runCmd(t, append([]string{"list", "-json"}, zkFlags(ss)...)...)
		if err != nil {
			t.Fatalf("list -json: %v\n%s", err, errOut)
		}
		var rows []struct {
			Znode      string                        `json:"znode"`
			Kind       string                        `json:"kind"`
			Host       string                        `json:"host"`
			Port       int                           `json:"port"`
			Shard      *int                          `json:"shard"`
			Status     string                        `json:"status"`
			Additional map[string]discovery.Endpoint `json:"additional_endpoints"`
			Owner      string                        `json:"session_owner"`
			Age        float64                       `json:"age_seconds"`
			Drained    bool                          `json:"drained"`
			Usable     bool                          `json:"usable"`
			Problems   []string                      `json:"problems"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("list -json output is not a JSON array: %v\n%s", err, out)
		}
		byName := map[string]int{}
		for i, r := range rows {
			byName[r.Znode] = i
		}
		g := rows[byName[path.Base(good)]]
		if g.Kind != "member" || g.Host != "127.0.0.1" || g.Port != 7001 || g.Shard == nil || *g.Shard != 3 || g.Status != "ALIVE" ||
			g.Additional["admin"] != (discovery.Endpoint{Host: "127.0.0.1", Port: 9990}) || g.Owner != owner || g.Age < 0 ||
			!g.Drained || !g.Usable || len(g.Problems) != 0 {
			t.Errorf("list -json row of the good member: %+v", g)
		}
		if j := rows[byName[path.Base(junk)]]; j.Usable || len(j.Problems) == 0 {
			t.Errorf("list -json row of the malformed member: %+v; want flagged", j)
		}
		if l := rows[byName["leader"]]; l.Kind != "other" || len(l.Problems) == 0 {
			t.Errorf("list -json row of a non-member child: %+v; want kind other, flagged", l)
		}
		if p := rows[byName[path.Base(persistent)]]; p.Owner != "persistent" || p.Usable {
			t.Errorf("list -json row of the persistent member: %+v", p)
		}
		if len(rows) != 6 {
			t.Errorf("list -json has %d rows, want 6:\n%s", len(rows), out)
		}

		if _, _, err := runCmd(t, append([]string{"list"}, zkFlags("/discovery/test/none")...)...); err == nil ||
			!strings.Contains(err.Error(), `"/discovery/test/none" does not exist`) {
			t.Errorf("list of a missing path: %v; want an error naming it", err)
		}
	})

	t.Run("list reads a member written by Twitter's Python tools", func(t *testing.T) {
		const ss = "/discovery/test/list-python"
		znode := zktest.PyRegister(t, zks.Addr(), ss, "--host", "127.0.0.1", "--port", "7011", "--style", "twitter-python", "--shard", "2")
		out, errOut, err := runCmd(t, append([]string{"list"}, zkFlags(ss)...)...)
		if err != nil {
			t.Fatalf("list: %v\n%s", err, errOut)
		}
		line := lineWith(t, out, path.Base(znode)+" ")
		for _, w := range []string{"127.0.0.1", "7011", "ALIVE", " 2 "} {
			if !strings.Contains(line, w) {
				t.Errorf("row of the kazoo member lacks %q:\n%s", w, line)
			}
		}
		if !strings.Contains(out, "1 members (1 usable: ALIVE and well-formed), 0 drain markers, 0 flagged") {
			t.Errorf("a Twitter-style member is flagged:\n%s", out)
		}
	})

	t.Run("watch prints joins and leaves, across a ZooKeeper restart", func(t *testing.T) {
		const ss = "/discovery/test/watch"
		out, errOut := startWatch(t, append([]string{"-session-timeout", "4s"}, zkFlags(ss)...)...)
		waitOutput(t, errOut, "missing path", "does not exist (yet)")
		m1 := create(t, admin, ss+"/member_", memberJSON("127.0.0.1", 7101, ""), zk.FlagEphemeralSequential)
		waitOutput(t, out, "join", "join ", path.Base(m1), "127.0.0.1:7101 ALIVE", "owner="+sessionHex(admin.SessionID()))
		if err := admin.Delete(m1, -1); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, out, "leave", "leave ", path.Base(m1), "127.0.0.1:7101")

		// A member whose client goes away while ZooKeeper is down: after
		// the restart its session expires and the watch, reconnected,
		// prints the leave; a member added after the restart joins.
		short := zktest.Client(t, zks.Addr(), time.Second)
		m2 := create(t, short, ss+"/member_", memberJSON("127.0.0.1", 7102, ""), zk.FlagEphemeralSequential)
		waitOutput(t, out, "join", "join ", path.Base(m2))
		zks.Stop()
		short.Close()
		zks.Restart()
		waitOutput(t, out, "leave after the restart", "leave ", path.Base(m2), "127.0.0.1:7102")
		m3 := create(t, admin, ss+"/member_", memberJSON("127.0.0.1", 7103, ""), zk.FlagEphemeralSequential)
		waitOutput(t, out, "join after the restart", "join ", path.Base(m3), "127.0.0.1:7103")
		if n := strings.Count(out.String(), " join "); n != 3 {
			t.Errorf("%d join lines, want 3:\n%s", n, out.String())
		}
	})

	t.Run("drain and undrain a member our registrar serves", func(t *testing.T) {
		const ss = "/discovery/test/drain"
		_, port := testnet.Accepting(t)
		st := startRegistrar(t, zks.Addr(), ss, port)
		first := waitStatus(t, st, "registered", func(s discovery.RegistrarStatus) bool { return s.Node != "" })
		member := "127.0.0.1:" + strconv.Itoa(port)

		out, errOut, err := runCmd(t, append([]string{"drain", "-member", member, "-reason", "kernel upgrade"}, zkFlags(ss)...)...)
		if err != nil || !strings.Contains(out, member+" drained: announced STOPPING") {
			t.Fatalf("drain: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		drained := waitStatus(t, st, "drained", func(s discovery.RegistrarStatus) bool { return s.Drained && s.Node != "" })
		if drained.Node == first.Node {
			t.Errorf("drained member %s is the ALIVE one; want a new member", drained.Node)
		}
		list, _, err := runCmd(t, append([]string{"list"}, zkFlags(ss)...)...)
		if err != nil {
			t.Fatal(err)
		}
		if line := lineWith(t, list, path.Base(drained.Node)+" "); !strings.Contains(line, "STOPPING") || !strings.Contains(line, "drained") {
			t.Errorf("list row of the drained member: %s", line)
		}
		if line := lineWith(t, list, "drain-"+member+" "); !strings.Contains(line, "kernel upgrade") {
			t.Errorf("list row of the marker lacks the reason: %s", line)
		}

		out, errOut, err = runCmd(t, append([]string{"undrain", "-member", member}, zkFlags(ss)...)...)
		if err != nil || !strings.Contains(out, member+" undrained: announced ALIVE by member_") {
			t.Fatalf("undrain: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		if ok, _, err := admin.Exists(ss + "/drain-" + member); err != nil || ok {
			t.Errorf("marker exists after undrain (%v)", err)
		}
		out, _, err = runCmd(t, append([]string{"undrain", "-member", member}, zkFlags(ss)...)...)
		if err != nil || !strings.Contains(out, "was not drained") {
			t.Errorf("second undrain: %v, %q; want it to say the member was not drained", err, out)
		}
	})

	t.Run("drain of a member no registrar of ours serves warns and keeps the marker", func(t *testing.T) {
		const ss = "/discovery/test/drain-foreign"
		create(t, admin, ss+"/member_", memberJSON("127.0.0.1", 7301, ""), zk.FlagEphemeralSequential)
		out, errOut, err := runCmd(t, append([]string{"drain", "-member", "127.0.0.1:7301", "-wait", "500ms"}, zkFlags(ss)...)...)
		if err != nil || !strings.Contains(errOut, "still announced ALIVE") || !strings.Contains(errOut, "no serverset-register of ours serves it") {
			t.Errorf("drain of a foreign member: %v\nstdout:\n%s\nstderr:\n%s\nwant a warning", err, out, errOut)
		}
		if ok, _, err := admin.Exists(ss + "/drain-127.0.0.1:7301"); err != nil || !ok {
			t.Errorf("marker gone after a drain nobody honoured (%v); want it kept", err)
		}
		_, errOut, err = runCmd(t, append([]string{"drain", "-member", "10.9.9.9:2003"}, zkFlags(ss)...)...)
		if err != nil || !strings.Contains(errOut, "no member announces this address") || !strings.Contains(errOut, "127.0.0.1:7301") {
			t.Errorf("drain of an unknown address: %v\nstderr:\n%s\nwant a warning listing the announced addresses", err, errOut)
		}
	})
}

// TestWatchAfterZooKeeperLostItsData: a ZooKeeper restarted with an empty
// data dir refuses the watch's client, which has seen a later zxid; the
// watch replaces its client, as the relay does, and prints the member that
// registers on the new server.
func TestWatchAfterZooKeeperLostItsData(t *testing.T) {
	zks := zktest.Start(t)
	admin := zktest.Client(t, zks.Addr(), 4*time.Second)
	const ss = "/discovery/test/empty"
	// Writes enough that the zxid the watch sees is far ahead of the
	// fresh server's.
	for i := range 40 {
		p := create(t, admin, fmt.Sprintf("/filler/n%d", i), "", 0)
		if err := admin.Delete(p, -1); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut := startWatch(t, "-zk", zks.Addr(), "-path", ss, "-session-timeout", "2s")
	waitOutput(t, errOut, "missing path", "does not exist (yet)")
	create(t, admin, ss+"/member_", memberJSON("127.0.0.1", 7401, ""), zk.FlagEphemeralSequential)
	waitOutput(t, out, "join", "join ", "127.0.0.1:7401")
	admin.Close()

	zks.RestartEmpty()
	fresh := zktest.Client(t, zks.Addr(), 4*time.Second)
	create(t, fresh, ss+"/member_", memberJSON("127.0.0.1", 7402, ""), zk.FlagEphemeralSequential)
	waitOutput(t, errOut, "the client replaced", "replacing it with a new client")
	waitOutput(t, out, "join on the fresh server", "join ", "127.0.0.1:7402")
	// The fresh server numbers the new member from 0 again: the same name
	// as the old one, which left.
	waitOutput(t, out, "the old member's leave", "leave ", "127.0.0.1:7401")
}

// startWatch runs `serverset watch args...` until the test ends, which
// checks that it returns nil once cancelled (and shows its stderr when the
// test failed).
func startWatch(t *testing.T, args ...string) (out, errOut *testio.SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut = &testio.SyncBuffer{}, &testio.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"watch"}, args...), out, errOut) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch returned %v after cancel, want nil", err)
		}
		if t.Failed() {
			t.Logf("watch stderr:\n%s", errOut.String())
		}
	})
	return out, errOut
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"lsit"}, `unknown command "lsit"`},
		{[]string{"list"}, "missing required flags: -zk, -path"},
		{[]string{"drain", "-zk", "127.0.0.1:1"}, "missing required flags: -path, -member"},
		{[]string{"undrain", "-zk", "127.0.0.1:1", "-path", "/a", "-member", "host"}, `failed to parse endpoint "host"`},
		{[]string{"drain", "-zk", "127.0.0.1:1", "-path", "/a", "-member", "h:0"}, "port 0 is not in 1..65535"},
		{[]string{"list", "-zk", "127.0.0.1:1", "-path", "discovery/a"}, `-path "discovery/a": want an absolute`},
		{[]string{"list", "-zk", "127.0.0.1:1", "-path", "/a", "-log-format", "xml"}, `-log-format "xml": want text or json`},
		{[]string{"watch", "-zk", "127.0.0.1:1", "-path", "/a", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"list", "-zk", "127.0.0.1:1", "-path", "/a", "-timeout", "300ms"}, "no session within 300ms"},
	} {
		_, _, err := runCmd(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serverset %q: error %v; want one containing %q", tc.args, err, tc.want)
		}
	}
}

// startRegistrar runs serverset-register's Registrar for 127.0.0.1:port
// until the test ends.
func startRegistrar(t *testing.T, zkAddr, ss string, port int) *discovery.Registrar {
	t.Helper()
	check, err := discovery.ParseCheck("tcp://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	zkc := discovery.DefaultZooKeeperConfig()
	zkc.Servers = []string{zkAddr}
	zkc.SessionTimeout = config.Duration{Duration: 2 * time.Second}
	r, err := discovery.NewRegistrar(discovery.RegistrarConfig{
		ZooKeeper: zkc, Path: ss, Check: check,
		Member:   discovery.MemberData{ServiceEndpoint: discovery.Endpoint{Host: "127.0.0.1", Port: port}},
		Interval: 100 * time.Millisecond, Rise: 1, Fall: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registrar: %v", err)
		}
	})
	return r
}

func waitStatus(t *testing.T, r *discovery.Registrar, what string, want func(discovery.RegistrarStatus) bool) discovery.RegistrarStatus {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if st := r.Status(); want(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("registrar never %s; status %+v", what, r.Status())
		}
		time.Sleep(10 * time.Millisecond) // polling: Status has no change event
	}
}
