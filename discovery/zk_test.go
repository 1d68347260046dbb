package discovery

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"ringrelay/internal/testnet"
	"ringrelay/internal/zktest"
)

// Tests in this file run against a real ZooKeeper (see internal/zktest).

// waitLimit bounds every wait for something to happen: generous, as the
// tests run under -race on loaded machines.
const waitLimit = 30 * time.Second

// addMember creates a member the way a registrar would, returning its path.
func addMember(t *testing.T, conn *zk.Conn, p string, data string) string {
	t.Helper()
	if err := ensurePath(conn, p); err != nil {
		t.Fatal(err)
	}
	name, err := conn.Create(p+"/"+MemberPrefix, []byte(data), zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatalf("failed to create member under %q: %v", p, err)
	}
	return name
}

func memberJSON(host string, port int, extra string) string {
	return fmt.Sprintf(`{"serviceEndpoint":{"host":%q,"port":%d},"additionalEndpoints":{},"status":"ALIVE"%s}`, host, port, extra)
}

// memberNodes lists the member children of p with their owners.
func memberNodes(t *testing.T, conn *zk.Conn, p string) map[string]int64 {
	t.Helper()
	children, _, err := conn.Children(p)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		t.Fatalf("failed to list %q: %v", p, err)
	}
	out := map[string]int64{}
	for _, c := range children {
		if !IsMemberName(c) {
			continue
		}
		_, stat, err := conn.Get(path.Join(p, c))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[c] = stat.EphemeralOwner
	}
	return out
}

// pool is a watched pool with its OnChange calls.
type pool struct {
	m       *Membership
	d       *Discovery
	changes chan change
}

type change struct {
	at   time.Time
	snap Snapshot
}

func watchPool(t *testing.T, zkc ZooKeeperConfig, serverset string, pc PoolConfig, static ...string) *pool {
	t.Helper()
	p := &pool{changes: make(chan change, 4096)}
	pc.Serverset = serverset
	p.m = NewMembership(MembershipConfig{Pool: "test", Static: srvs(static...), PoolConfig: pc,
		OnChange: func(s Snapshot) {
			select {
			case p.changes <- change{time.Now(), s}:
			default:
			}
		}})
	d, err := New(Options{ZooKeeper: zkc, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.d = d
	if err := d.Watch("test", pc, p.m); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Start took %v; it must not wait for ZooKeeper", took)
	}
	t.Cleanup(func() { d.Close(); p.m.Stop() })
	return p
}

func zkConfig(addr string) ZooKeeperConfig {
	c := DefaultZooKeeperConfig()
	c.Servers = []string{addr}
	c.SessionTimeout.Duration = 2 * time.Second
	return c
}

// waitFor waits until the membership satisfies want, returning it.
func (p *pool) waitFor(t *testing.T, what string, want func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		if s := p.m.Snapshot(); want(s) {
			return s
		}
		select {
		case <-p.changes:
		case <-deadline.C:
			t.Fatalf("membership never became %s; it is %q (discovery %+v)", what, describe(p.m.Snapshot()), p.d.Status())
		}
	}
}

func (p *pool) waitMembers(t *testing.T, want string) Snapshot {
	t.Helper()
	return p.waitFor(t, want, func(s Snapshot) bool { return describe(s) == want })
}

// scriptedCheck returns results the test feeds it, one per check.
type scriptedCheck struct {
	entered chan struct{}
	results chan bool
}

func newScriptedCheck() *scriptedCheck {
	return &scriptedCheck{entered: make(chan struct{}, 1), results: make(chan bool)}
}

func (c *scriptedCheck) String() string { return "scripted" }

// Check deliberately ignores ctx's deadline so that a slow test cannot turn
// a pass into a timeout; it ends when the test closes results.
func (c *scriptedCheck) Check(context.Context) error {
	c.entered <- struct{}{}
	ok, open := <-c.results
	if !open || !ok {
		return errors.New("scripted failure")
	}
	return nil
}

// step feeds one result and waits until the registrar has acted on it
// (it has started the next check).
func (c *scriptedCheck) step(ok bool) {
	c.results <- ok
	<-c.entered
}

type runningRegistrar struct {
	r      *Registrar
	cancel context.CancelFunc
	done   chan error
}

func startRegistrar(t *testing.T, cfg RegistrarConfig) *runningRegistrar {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	r, err := NewRegistrar(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningRegistrar{r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(rr.stop)
	return rr
}

func (rr *runningRegistrar) stop() {
	rr.cancel()
	if rr.done != nil {
		<-rr.done
		rr.done = nil
	}
}

// waitChecks waits until the registrar has run n more health checks (each
// followed by a reconcile): it lets "a few intervals" pass by counting them,
// not by guessing how long they take on a busy machine.
func (rr *runningRegistrar) waitChecks(t *testing.T, n int) {
	t.Helper()
	checks := func() float64 {
		return testutil.ToFloat64(rr.r.met.checkPass) + testutil.ToFloat64(rr.r.met.checkFail)
	}
	want := checks() + float64(n)
	deadline := time.Now().Add(waitLimit)
	for checks() < want {
		if time.Now().After(deadline) {
			t.Fatalf("registrar ran %v of %v checks within %v", checks(), want, waitLimit)
		}
		time.Sleep(5 * time.Millisecond) // polling: a counter has no change event
	}
}

func (rr *runningRegistrar) waitNode(t *testing.T, what string, want func(RegistrarStatus) bool) RegistrarStatus {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st := rr.r.Status()
		if want(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("registrar never reached %s; status %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond) // polling: Status has no change event
	}
}

func registrarConfig(addr, serverset string, port int, check Checker) RegistrarConfig {
	zkc := zkConfig(addr)
	return RegistrarConfig{
		ZooKeeper: zkc,
		Path:      serverset,
		Member:    MemberData{ServiceEndpoint: Endpoint{Host: "127.0.0.1", Port: port}},
		Check:     check,
		Interval:  100 * time.Millisecond,
		Timeout:   80 * time.Millisecond,
		Rise:      1,
		Fall:      1,
	}
}

// TestZooKeeper runs the scenarios that can share one server.
func TestZooKeeper(t *testing.T) {
	zks := zktest.Start(t)
	admin := zktest.Client(t, zks.Addr(), 4*time.Second)

	testRegistrarCorners(t, zks, admin)

	t.Run("register and see", func(t *testing.T) {
		const ss = "/discovery/test/see"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{Debounce: dur(50 * time.Millisecond)}, "127.0.2.1:2003")
		p.waitMembers(t, "static:127.0.2.1:2003")
		cfg := registrarConfig(zks.Addr(), ss, port, check)
		cfg.Rise = 2
		rr := startRegistrar(t, cfg)
		st := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
		snap := p.waitMembers(t, fmt.Sprintf("zookeeper:127.0.0.1:%d", port))
		if snap.LastSync.IsZero() {
			t.Errorf("LastSync is zero after a sync")
		}
		nodes := memberNodes(t, admin, ss)
		if len(nodes) != 1 || nodes[path.Base(st.Node)] != st.SessionID {
			t.Errorf("members %v; want exactly %s owned by 0x%x", nodes, st.Node, st.SessionID)
		}
		data, _, err := admin.Get(st.Node)
		if want := memberJSON("127.0.0.1", port, ""); err != nil || string(data) != want {
			t.Errorf("member data %s, %v; want %s", data, err, want)
		}
		// SIGTERM-equivalent: the member leaves at once, not after the session.
		start := time.Now()
		rr.stop()
		if nodes := memberNodes(t, admin, ss); len(nodes) != 0 {
			t.Errorf("after Run returned: members %v, want none", nodes)
		}
		p.waitMembers(t, "")
		t.Logf("leave: Run returned and member gone after %v", time.Since(start))
		if ps := p.d.Status().Pools["test"]; ps.LastSync.IsZero() || ps.LastError != "" || ps.Serverset != ss {
			t.Errorf("pool status %+v", ps)
		}
	})

	t.Run("a server name that does not resolve is skipped", func(t *testing.T) {
		const ss = "/discovery/test/dns"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		cfg := registrarConfig(zks.Addr(), ss, port, check)
		cfg.ZooKeeper.Servers = []string{"zk-gone.ringrelay-test.invalid:2181", zks.Addr()}
		rr := startRegistrar(t, cfg)
		p := watchPool(t, cfg.ZooKeeper, ss, PoolConfig{}, "127.0.2.1:2003")
		deadline := time.Now().Add(waitLimit)
		for rr.r.Status().Node == "" {
			select {
			case err := <-rr.done:
				rr.done = nil
				t.Fatalf("Registrar.Run with servers %q returned %v; want it to register through the server that resolves", cfg.ZooKeeper.Servers, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("registrar never registered through %q", cfg.ZooKeeper.Servers)
			}
			time.Sleep(10 * time.Millisecond) // polling: Status has no change event
		}
		p.waitMembers(t, fmt.Sprintf("zookeeper:127.0.0.1:%d", port))
	})

	t.Run("a member the relay may not read is skipped", func(t *testing.T) {
		const ss = "/discovery/test/noread"
		if err := ensurePath(admin, ss); err != nil {
			t.Fatal(err)
		}
		// Written by a tool that gives only its own identity any rights.
		locked := zk.DigestACL(zk.PermAll, "other", "secret")
		if _, err := admin.Create(ss+"/"+MemberPrefix, []byte(memberJSON("127.0.0.1", 6000, "")), zk.FlagEphemeralSequential, locked); err != nil {
			t.Fatal(err)
		}
		addMember(t, admin, ss, memberJSON("127.0.0.1", 6001, ""))
		p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{}, "127.0.2.1:2003")
		p.waitMembers(t, "zookeeper:127.0.0.1:6001")
		addMember(t, admin, ss, memberJSON("127.0.0.1", 6002, ""))
		p.waitMembers(t, "zookeeper:127.0.0.1:6001,zookeeper:127.0.0.1:6002")
		if ps := p.d.Status().Pools["test"]; ps.Skipped != 1 || ps.Members != 2 || ps.LastError != "" {
			t.Errorf("pool status %+v; want 2 members, 1 skipped, no error", ps)
		}
	})

	t.Run("resyncs do not pile up watches in the client", func(t *testing.T) {
		const ss = "/discovery/test/resync"
		addMember(t, admin, ss, memberJSON("127.0.0.1", 6101, ""))
		met := NewMetrics(nil)
		zkc := zkConfig(zks.Addr())
		zkc.ResyncInterval = dur(5 * time.Millisecond)
		d, err := New(Options{ZooKeeper: zkc, Metrics: met})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		m := NewMembership(MembershipConfig{Pool: "resync"})
		if err := d.Watch("resync", PoolConfig{Serverset: ss}, m); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		const syncs = 40
		deadline := time.Now().Add(waitLimit)
		for testutil.ToFloat64(met.syncs.WithLabelValues("resync", "ok")) < syncs {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d syncs within %v", syncs, waitLimit)
			}
			time.Sleep(5 * time.Millisecond) // polling: a counter has no change event
		}
		d.mu.Lock()
		conn := d.zk.Conn()
		d.mu.Unlock()
		// The client keeps a channel per watching call until the path's
		// next event; a stable serverset must not collect one per resync.
		if n := clientWatchers(conn, ss); n > 2 {
			t.Errorf("after %d resyncs of an unchanged serverset the client holds %d watch channels for %s; want at most 2", syncs, n, ss)
		}
		addMember(t, admin, ss, memberJSON("127.0.0.1", 6102, ""))
		deadline = time.Now().Add(waitLimit)
		for describe(m.Snapshot()) != "zookeeper:127.0.0.1:6101,zookeeper:127.0.0.1:6102" {
			if time.Now().After(deadline) {
				t.Fatalf("membership %q; the new member was never seen", describe(m.Snapshot()))
			}
			time.Sleep(5 * time.Millisecond) // polling: no OnChange hook here
		}
	})

	t.Run("rise and fall", func(t *testing.T) {
		const ss = "/discovery/test/flap"
		check := newScriptedCheck()
		cfg := registrarConfig(zks.Addr(), ss, 7001, check)
		cfg.Rise, cfg.Fall = 2, 3
		rr := startRegistrar(t, cfg)
		t.Cleanup(func() { close(check.results) })
		<-check.entered
		var last string
		for i, tc := range []struct {
			ok         bool
			registered bool
			sameNode   bool // same member as before this step
		}{
			{ok: true, registered: false},
			{ok: true, registered: true},
			{ok: false, registered: true, sameNode: true},
			{ok: false, registered: true, sameNode: true},
			{ok: true, registered: true, sameNode: true}, // resets the fall count
			{ok: false, registered: true, sameNode: true},
			{ok: false, registered: true, sameNode: true},
			{ok: false, registered: false},
			{ok: true, registered: false},
			{ok: false, registered: false},
			{ok: true, registered: false},
			{ok: true, registered: true}, // a new member
		} {
			check.step(tc.ok)
			nodes := memberNodes(t, admin, ss)
			st := rr.r.Status()
			if tc.registered != (len(nodes) == 1) || len(nodes) > 1 || tc.registered != (st.Node != "") {
				t.Fatalf("step %d (check ok=%v): members %v, status %+v; want registered=%v", i, tc.ok, nodes, st, tc.registered)
			}
			cur := path.Base(st.Node)
			if tc.registered && tc.sameNode && cur != last {
				t.Errorf("step %d: member changed from %s to %s; want it kept", i, last, cur)
			}
			if tc.registered && !tc.sameNode && cur == last {
				t.Errorf("step %d: member %s re-used; want a new member", i, cur)
			}
			if tc.registered {
				last = cur
			}
		}
	})

	t.Run("malformed and non-member znodes are ignored", func(t *testing.T) {
		const ss = "/discovery/test/malformed"
		if err := ensurePath(admin, ss); err != nil {
			t.Fatal(err)
		}
		good := addMember(t, admin, ss, memberJSON("127.0.0.1", 9001, ""))
		for _, data := range []string{
			`{"serviceEndpoint":{"host":"h","port":"8080"},"status":"ALIVE"}`,
			`{"serviceEndpoint":{"host":"h","port":9002},"additionalEndpoints":{},"status":"DEAD"}`,
			`not json`, "\x01", "",
		} {
			addMember(t, admin, ss, data)
		}
		for _, name := range []string{"leader", "vector_0000000001", "member_persistent"} {
			if _, err := admin.Create(ss+"/"+name, []byte(memberJSON("10.9.9.9", 1, "")), 0, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
		}
		reg := prometheus.NewRegistry()
		met := NewMetrics(reg)
		p := &pool{changes: make(chan change, 64)}
		p.m = NewMembership(MembershipConfig{Pool: "bad", Metrics: met, OnChange: func(s Snapshot) { p.changes <- change{time.Now(), s} }})
		d, err := New(Options{ZooKeeper: zkConfig(zks.Addr()), Metrics: met})
		if err != nil {
			t.Fatal(err)
		}
		p.d = d
		defer d.Close()
		if err := d.Watch("bad", PoolConfig{Serverset: ss}, p.m); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		p.waitMembers(t, "zookeeper:127.0.0.1:9001")
		// The watcher keeps working: a later member is seen.
		addMember(t, admin, ss, memberJSON("127.0.0.1", 9003, ""))
		p.waitMembers(t, "zookeeper:127.0.0.1:9001,zookeeper:127.0.0.1:9003")
		if err := admin.Delete(good, -1); err != nil {
			t.Fatal(err)
		}
		p.waitMembers(t, "zookeeper:127.0.0.1:9003")
		ps := d.Status().Pools["bad"]
		if ps.Skipped != 5 || ps.Members != 1 {
			t.Errorf("pool status %+v; want 5 skipped, 1 member", ps)
		}
		for reason, want := range map[SkipReason]float64{SkipInvalidJSON: 3, SkipBadEndpoint: 1, SkipNotAlive: 1} {
			if got := testutil.ToFloat64(met.skipped.WithLabelValues("bad", string(reason))); got != want {
				t.Errorf("skipped_members_total{reason=%q} = %v, want %v", reason, got, want)
			}
		}
		if got := testutil.ToFloat64(met.members.WithLabelValues("bad", "zookeeper")); got != 1 {
			t.Errorf("members{source=zookeeper} = %v, want 1", got)
		}
		if got := testutil.ToFloat64(met.zkConnected); got != 1 {
			t.Errorf("zookeeper_connected = %v, want 1", got)
		}
		if n, err := testutil.GatherAndCount(reg, "ringrelay_discovery_sync_age_seconds"); err != nil || n != 1 {
			t.Errorf("sync_age_seconds series = %d, %v; want 1", n, err)
		}
	})

	t.Run("session expiry leaves exactly one member", func(t *testing.T) {
		const ss = "/discovery/test/expiry"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		// Short sessions: a client learns of a forced expiry when its
		// connection times out (about the session timeout).
		cfg := registrarConfig(zks.Addr(), ss, port, check)
		cfg.ZooKeeper.SessionTimeout.Duration = time.Second
		rr := startRegistrar(t, cfg)
		p := watchPool(t, cfg.ZooKeeper, ss, PoolConfig{})
		want := fmt.Sprintf("zookeeper:127.0.0.1:%d", port)
		p.waitMembers(t, want)
		for round := 0; round < 1; round++ {
			st := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
			expired := time.Now()
			if err := zks.ExpireSession(st.SessionID, nil); err != nil {
				t.Fatal(err)
			}
			st2 := rr.waitNode(t, "re-registered in a new session", func(s RegistrarStatus) bool {
				return s.Node != "" && s.SessionID != st.SessionID
			})
			t.Logf("registrar: session expired -> new member in %v", time.Since(expired))
			// Let a few more reconciles run, then there must be exactly one.
			rr.waitChecks(t, 5)
			nodes := memberNodes(t, admin, ss)
			if len(nodes) != 1 || nodes[path.Base(st2.Node)] != st2.SessionID {
				t.Fatalf("round %d: members after expiry %v; want only %s owned by 0x%x", round, nodes, st2.Node, st2.SessionID)
			}
			if st2.Node == st.Node {
				t.Errorf("round %d: member %s re-used after expiry; want a new one", round, st2.Node)
			}
			p.waitMembers(t, want)
		}
		// The watcher's own session expires: it re-lists on the new one.
		ds := p.d.Status()
		expired := time.Now()
		if err := zks.ExpireSession(ds.SessionID, nil); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(waitLimit)
		for p.d.Status().SessionID == ds.SessionID || p.d.Status().SessionID == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("watcher never got a new session; status %+v", p.d.Status())
			}
			time.Sleep(10 * time.Millisecond) // polling: Status has no change event
		}
		t.Logf("watcher: session expired -> new session in %v", time.Since(expired))
		addMember(t, admin, ss, memberJSON("127.0.0.1", 9999, ""))
		both := []Member{{srv(fmt.Sprintf("127.0.0.1:%d", port)), SourceZooKeeper}, {srv("127.0.0.1:9999"), SourceZooKeeper}}
		if port > 9999 {
			both[0], both[1] = both[1], both[0] // ordered by port
		}
		p.waitMembers(t, describe(Snapshot{Members: both}))
	})

	t.Run("credentials are added once across session expiries", func(t *testing.T) {
		const ss = "/discovery/test/authexpiry"
		// Only the backend's identity may create members: each new session
		// must carry its credentials.
		if err := ensurePath(admin, path.Dir(ss)); err != nil {
			t.Fatal(err)
		}
		acl := append(zk.DigestACL(zk.PermAll, "backend", "pw"), zk.WorldACL(zk.PermRead)...)
		if _, err := admin.Create(ss, nil, 0, acl); err != nil {
			t.Fatal(err)
		}
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		cfg := registrarConfig(zks.Addr(), ss, port, check)
		cfg.ZooKeeper.SessionTimeout.Duration = time.Second
		cfg.ZooKeeper.Auth = "backend:pw"
		rr := startRegistrar(t, cfg)
		zkc := cfg.ZooKeeper
		zkc.Auth = "relay:pw"
		p := watchPool(t, zkc, ss, PoolConfig{})
		want := fmt.Sprintf("zookeeper:127.0.0.1:%d", port)
		p.waitMembers(t, want)
		st := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
		ds := p.d.Status()
		for _, sid := range []int64{st.SessionID, ds.SessionID} {
			if err := zks.ExpireSession(sid, nil); err != nil {
				t.Fatal(err)
			}
		}
		rr.waitNode(t, "a new session", func(s RegistrarStatus) bool { return s.Node != "" && s.SessionID != st.SessionID })
		deadline := time.Now().Add(waitLimit)
		for s := p.d.Status().SessionID; s == ds.SessionID || s == 0; s = p.d.Status().SessionID {
			if time.Now().After(deadline) {
				t.Fatalf("watcher never got a new session; status %+v", p.d.Status())
			}
			time.Sleep(10 * time.Millisecond) // polling: Status has no change event
		}
		p.waitMembers(t, want)
		p.d.mu.Lock()
		dconn := p.d.zk.Conn()
		p.d.mu.Unlock()
		// The client re-sends its credentials on every connection; adding
		// them again per session makes the list (and every reconnect) grow.
		for name, conn := range map[string]*zk.Conn{"registrar": rr.r.zk.Conn(), "watcher": dconn} {
			if n := clientCreds(conn); n != 1 {
				t.Errorf("%s: the client holds %d credentials after a session expiry; want 1", name, n)
			}
		}
	})

	t.Run("http purge survives a rebuild", func(t *testing.T) {
		const ss = "/discovery/test/purge"
		a := addMember(t, admin, ss, memberJSON("127.0.0.1", 1001, ""))
		addMember(t, admin, ss, memberJSON("127.0.0.1", 1002, ""))
		p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{Debounce: dur(20 * time.Millisecond)})
		p.waitMembers(t, "zookeeper:127.0.0.1:1001,zookeeper:127.0.0.1:1002")
		p.m.Purge(srv("127.0.0.1:1001"))
		p.m.Add(srv("127.0.0.1:5555"))
		p.waitMembers(t, "zookeeper:127.0.0.1:1002,http:127.0.0.1:5555")
		addMember(t, admin, ss, memberJSON("127.0.0.1", 1003, ""))
		p.waitMembers(t, "zookeeper:127.0.0.1:1002,zookeeper:127.0.0.1:1003,http:127.0.0.1:5555")
		if err := admin.Delete(a, -1); err != nil {
			t.Fatal(err)
		}
		addMember(t, admin, ss, memberJSON("127.0.0.1", 1001, "")) // re-registers: still purged
		addMember(t, admin, ss, memberJSON("127.0.0.1", 1004, ""))
		p.waitMembers(t, "zookeeper:127.0.0.1:1002,zookeeper:127.0.0.1:1003,zookeeper:127.0.0.1:1004,http:127.0.0.1:5555")
	})

	t.Run("instance from shard keeps identity across addresses", func(t *testing.T) {
		const ss = "/discovery/test/shards"
		old := addMember(t, admin, ss, memberJSON("10.0.0.1", 2003, `,"shard":1`))
		addMember(t, admin, ss, memberJSON("10.0.0.2", 2003, `,"shard":0`))
		addMember(t, admin, ss, memberJSON("10.0.0.3", 2003, `,"shard":10`))
		p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{InstanceFrom: "shard"})
		p.waitMembers(t, "zookeeper:10.0.0.2:2003=0,zookeeper:10.0.0.1:2003=1,zookeeper:10.0.0.3:2003=10")
		// Shard 1 re-registers at a new address before its old member is gone:
		// the newest registration wins, and the instance stays "1".
		addMember(t, admin, ss, memberJSON("10.0.0.9", 2003, `,"shard":1`))
		p.waitMembers(t, "zookeeper:10.0.0.2:2003=0,zookeeper:10.0.0.9:2003=1,zookeeper:10.0.0.3:2003=10")
		if err := admin.Delete(old, -1); err != nil {
			t.Fatal(err)
		}
		addMember(t, admin, ss, memberJSON("10.0.0.4", 2003, `,"shard":2`))
		p.waitMembers(t, "zookeeper:10.0.0.2:2003=0,zookeeper:10.0.0.9:2003=1,zookeeper:10.0.0.4:2003=2,zookeeper:10.0.0.3:2003=10")
		if ps := p.d.Status().Pools["test"]; ps.Duplicates != 0 {
			t.Errorf("duplicates %d after the old member left, want 0", ps.Duplicates)
		}
	})

	t.Run("deletion to ring latency", func(t *testing.T) {
		const ss = "/discovery/test/latency"
		for _, debounce := range []time.Duration{0, 200 * time.Millisecond} {
			var names []string
			for i := 0; i < 3; i++ {
				names = append(names, addMember(t, admin, ss, memberJSON("127.0.0.1", 3000+i, "")))
			}
			p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{Debounce: dur(debounce)})
			p.waitFor(t, "3 members", func(s Snapshot) bool { return len(s.Members) == 3 })
			var worst time.Duration
			for i := 0; i < 2; i++ {
				for len(p.changes) > 0 {
					<-p.changes
				}
				start := time.Now()
				if err := admin.Delete(names[i], -1); err != nil {
					t.Fatal(err)
				}
				var c change
				select {
				case c = <-p.changes:
				case <-time.After(waitLimit):
					t.Fatalf("no OnChange after deleting %s", names[i])
				}
				if len(c.snap.Members) != 2-i {
					t.Fatalf("OnChange after deleting %s: %q", names[i], describe(c.snap))
				}
				lat := c.at.Sub(start) - debounce
				worst = max(worst, lat)
				t.Logf("debounce %v: delete -> OnChange %v (debounce + %v)", debounce, c.at.Sub(start), lat)
			}
			if worst > time.Second {
				t.Errorf("debounce %v: deletion reached the ring %v after the debounce; target is under 100ms", debounce, worst)
			}
			p.d.Close()
			admin.Delete(names[2], -1)
		}
	})

	t.Run("1000 members", func(t *testing.T) {
		const ss = "/discovery/test/big"
		const n = 1000
		if err := ensurePath(admin, ss); err != nil {
			t.Fatal(err)
		}
		// Create asynchronously-ish: a few writers.
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					_, err := admin.Create(ss+"/"+MemberPrefix, []byte(memberJSON("10.1.0.1", 10000+i, "")), zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		start := time.Now()
		p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{})
		p.waitFor(t, "1000 members", func(s Snapshot) bool { return len(s.Members) == n })
		cold := time.Since(start)
		ps := p.d.Status().Pools["test"]
		for len(p.changes) > 0 {
			<-p.changes
		}
		start = time.Now()
		addMember(t, admin, ss, memberJSON("10.1.0.2", 1, ""))
		var c change
		select {
		case c = <-p.changes:
		case <-time.After(waitLimit):
			t.Fatalf("no OnChange within %v after adding a member", waitLimit)
		}
		warm := c.at.Sub(start)
		if len(c.snap.Members) != n+1 {
			t.Fatalf("after adding one: %d members", len(c.snap.Members))
		}
		t.Logf("1000-member serverset: first full sync+rebuild (connect, list, 1000 GETs) %v; one more member -> OnChange %v", cold, warm)
		if ps.Members != n {
			t.Errorf("status members %d, want %d", ps.Members, n)
		}
	})
}

// TestZooKeeperStopped: a ZooKeeper outage shorter than the sessions keeps
// the registration and the relay's membership; a backend that died during
// the outage is removed once ZooKeeper is back.
func TestZooKeeperStopped(t *testing.T) {
	zks := zktest.Start(t, zktest.WithMaxSessionTimeout(30*time.Second))
	const ss = "/discovery/test/outage"
	backend, port := testnet.Accepting(t)
	check, _ := ParseCheck("tcp://" + backend)
	cfg := registrarConfig(zks.Addr(), ss, port, check)
	cfg.ZooKeeper.SessionTimeout.Duration = 15 * time.Second
	rr := startRegistrar(t, cfg)
	st := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })

	// A backend that will die during the outage, with a short session.
	doomed := zktest.Client(t, zks.Addr(), 2*time.Second)
	addMember(t, doomed, ss, memberJSON("127.0.0.1", 1, ""))

	zkc := zkConfig(zks.Addr())
	zkc.SessionTimeout.Duration = 15 * time.Second
	p := watchPool(t, zkc, ss, PoolConfig{Debounce: dur(50 * time.Millisecond)}, "127.0.2.1:2003")
	both := fmt.Sprintf("zookeeper:127.0.0.1:1,zookeeper:127.0.0.1:%d", port)
	p.waitMembers(t, both)
	for len(p.changes) > 0 {
		<-p.changes
	}

	zks.Stop()
	doomed.Close() // dies while ZooKeeper is down: its session can only expire later
	// Routing continues on the last membership while ZooKeeper is down.
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if s := describe(p.m.Snapshot()); s != both {
			t.Fatalf("during the outage the membership changed to %q", s)
		}
		if p.d.Status().State == "disconnected" {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling: waiting for the client to notice
	}
	if s := p.d.Status().State; s != "disconnected" {
		t.Errorf("discovery state during the outage %q, want disconnected", s)
	}
	zks.Restart()

	// The removal made meanwhile (the doomed session expiring) is seen.
	p.waitMembers(t, fmt.Sprintf("zookeeper:127.0.0.1:%d", port))
	// The registrar kept its session and member: nothing changed.
	after := rr.waitNode(t, "connected again", func(s RegistrarStatus) bool { return s.SessionID != 0 })
	if after.Node != st.Node || after.SessionID != st.SessionID {
		t.Errorf("after the outage the registrar has %+v; want the same member and session as %+v", after, st)
	}
	admin := zktest.Client(t, zks.Addr(), 4*time.Second)
	if nodes := memberNodes(t, admin, ss); len(nodes) != 1 || nodes[path.Base(st.Node)] != st.SessionID {
		t.Errorf("members after the outage %v; want only %s", nodes, st.Node)
	}
	for c := range len(p.changes) {
		_ = c
		if ch := <-p.changes; !strings.Contains(describe(ch.snap), fmt.Sprint(port)) {
			t.Errorf("an OnChange during/after the outage dropped the live backend: %q", describe(ch.snap))
		}
	}
	// The watch works after the reconnect (the resync is a minute away).
	addMember(t, admin, ss, memberJSON("127.0.0.1", 2, ""))
	p.waitMembers(t, fmt.Sprintf("zookeeper:127.0.0.1:2,zookeeper:127.0.0.1:%d", port))
}

// TestZooKeeperDownAtStart: the relay starts on its static servers while
// ZooKeeper is down, and switches to the serverset once it is up.
func TestZooKeeperDownAtStart(t *testing.T) {
	zks := zktest.Start(t)
	zks.Stop() // keeps the port: ZooKeeper is "down" at that address
	const ss = "/discovery/test/late"
	p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{Debounce: dur(50 * time.Millisecond)}, "127.0.2.1:2003", "127.0.2.2:2003")
	if got := describe(p.m.Snapshot()); got != "static:127.0.2.1:2003,static:127.0.2.2:2003" {
		t.Errorf("at start without ZooKeeper: %q, want the static servers", got)
	}
	p.m.Purge(srv("127.0.2.2:2003")) // HTTP works without ZooKeeper
	p.waitMembers(t, "static:127.0.2.1:2003")
	deadline := time.Now().Add(waitLimit)
	for p.d.Status().Pools["test"].LastError == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no failed sync within %v without ZooKeeper; status %+v", waitLimit, p.d.Status())
		}
		time.Sleep(20 * time.Millisecond) // polling: waiting for a failed attempt
	}
	if st := p.d.Status(); st.State == "connected" || !st.Pools["test"].LastSync.IsZero() {
		t.Errorf("status without ZooKeeper %+v", st)
	}
	zks.Restart()
	admin := zktest.Client(t, zks.Addr(), 4*time.Second)
	addMember(t, admin, ss, memberJSON("127.0.0.1", 5001, ""))
	p.waitMembers(t, "zookeeper:127.0.0.1:5001")
}

// TestInterop checks members against Twitter's Python tooling (kazoo):
// serverset.py register writes, our watcher reads; our registrar writes,
// serverset.py list validates.
func TestInterop(t *testing.T) {
	py := zktest.Python(t)
	tool := zktest.SharedTool(t, "zk/serverset.py")
	zks := zktest.Start(t)
	const ss = "/discovery/test/interop"
	register := func(args ...string) { zktest.PyRegister(t, zks.Addr(), ss, args...) }
	register("--host", "127.0.0.1", "--port", "9101", "--additional", "admin=127.0.0.1:9991", "--shard", "0")
	register("--host", "127.0.0.1", "--port", "9102", "--style", "twitter-python")
	register("--host", "127.0.0.1", "--port", "9103", "--style", "go-serversets")
	register("--host", "127.0.0.1", "--port", "9104", "--shard", "2", "--metadata", "zone=a<b")
	register("--host", "127.0.0.1", "--port", "9105", "--status", "STOPPING")
	register("--host", "h", "--port", "1", "--raw-json", `{"serviceEndpoint":{"host":"h","port":"x"}}`)
	p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{})
	p.waitMembers(t, "zookeeper:127.0.0.1:9101,zookeeper:127.0.0.1:9102,zookeeper:127.0.0.1:9103,zookeeper:127.0.0.1:9104")
	pa := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{Endpoint: "admin"})
	pa.waitMembers(t, "zookeeper:127.0.0.1:9991")

	// Our registrar's member passes serverset.py's validation.
	const ours = "/discovery/test/ours"
	backend, port := testnet.Accepting(t)
	check, _ := ParseCheck("tcp://" + backend)
	cfg := registrarConfig(zks.Addr(), ours, port, check)
	shard := int32(4)
	cfg.Member.Shard = &shard
	cfg.Member.AdditionalEndpoints = map[string]Endpoint{"http": {Host: "127.0.0.1", Port: 8080}}
	cfg.Member.Metadata = map[string]string{"zone": "a"}
	rr := startRegistrar(t, cfg)
	rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
	out, err := exec.Command(py, tool, "list", "--zk", zks.Addr(), "--path", ours, "--expect", "1").CombinedOutput()
	if err != nil {
		t.Errorf("serverset.py list --expect 1: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\tOK") {
		t.Errorf("serverset.py list verdict not OK:\n%s", out)
	}
	t.Logf("serverset.py list:\n%s", out)
}

// clientWatchers counts the watch channels go-zookeeper holds for path
// (its unexported watchers map, read through reflection under the client's
// own watchersLock).
func clientWatchers(conn *zk.Conn, path string) int {
	v := reflect.ValueOf(conn).Elem()
	mu := (*sync.Mutex)(unsafe.Pointer(v.FieldByName("watchersLock").UnsafeAddr()))
	mu.Lock()
	defer mu.Unlock()
	n := 0
	iter := v.FieldByName("watchers").MapRange()
	for iter.Next() {
		if iter.Key().Field(0).String() == path {
			n += iter.Value().Len()
		}
	}
	return n
}

// clientCreds counts the credentials go-zookeeper re-sends on every
// connection (its unexported creds, read under its credsMu).
func clientCreds(conn *zk.Conn) int {
	v := reflect.ValueOf(conn).Elem()
	mu := (*sync.Mutex)(unsafe.Pointer(v.FieldByName("credsMu").UnsafeAddr()))
	mu.Lock()
	defer mu.Unlock()
	return v.FieldByName("creds").Len()
}
