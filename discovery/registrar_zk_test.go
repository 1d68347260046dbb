package discovery

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"ringrelay/internal/testnet"
	"ringrelay/internal/zktest"
)

// testRegistrarCorners covers the registrar's corner cases on a real
// server (TestZooKeeper's): adoption after a create lost to a connection
// error, re-joining after an external delete, and digest ACLs.
func testRegistrarCorners(t *testing.T, zks *zktest.Server, admin *zk.Conn) {

	t.Run("adopt or delete leftovers of a lost create", func(t *testing.T) {
		for _, healthy := range []bool{true, false} {
			ss := "/discovery/test/adopt"
			if !healthy {
				ss += "-unhealthy"
			}
			r, err := NewRegistrar(registrarConfig(zks.Addr(), ss, 7100, nil))
			if err == nil {
				t.Fatal("NewRegistrar without a check succeeded")
			}
			check, _ := ParseCheck("tcp://127.0.0.1:1")
			r, err = NewRegistrar(registrarConfig(zks.Addr(), ss, 7100, check))
			if err != nil {
				t.Fatal(err)
			}
			// Drive reconcile directly: the registrar's session made two
			// creates whose replies were lost, plus a member with other data.
			// A client with a settled session, never replaced (no failed handshakes).
			r.zk = &zkClient{conn: zktest.Client(t, zks.Addr(), 4*time.Second), hasSession: true}
			r.conn = r.zk.Conn()
			sid := r.conn.SessionID()
			a := addMember(t, r.conn, ss, string(r.data))
			b := addMember(t, r.conn, ss, string(r.data))
			other := addMember(t, r.conn, ss, memberJSON("127.0.0.1", 7101, ""))
			foreign := addMember(t, admin, ss, string(r.data))
			r.lastSID = sid
			r.markUncertain(sid)
			r.health.Observe(healthy)
			r.reconcile()
			nodes := memberNodes(t, admin, ss)
			want := []string{path.Base(other), path.Base(foreign)}
			if healthy {
				want = append(want, path.Base(a))
				if r.node != a {
					t.Errorf("healthy: adopted %q, want the oldest %q", r.node, a)
				}
			} else if r.node != "" {
				t.Errorf("unhealthy: node %q, want none", r.node)
			}
			var got []string
			for n := range nodes {
				got = append(got, n)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("healthy=%v: members after reconcile %v, want %v (extra %s of our session deleted)", healthy, got, want, path.Base(b))
			}
			r.reconcile() // idempotent: nothing new
			if n := len(memberNodes(t, admin, ss)); n != len(want) {
				t.Errorf("healthy=%v: second reconcile changed the member count to %d", healthy, n)
			}
		}
	})

	t.Run("re-join after an external delete", func(t *testing.T) {
		const ss = "/discovery/test/rejoin"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		rr := startRegistrar(t, registrarConfig(zks.Addr(), ss, port, check))
		st := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
		if err := admin.Delete(st.Node, -1); err != nil {
			t.Fatal(err)
		}
		st2 := rr.waitNode(t, "re-registered", func(s RegistrarStatus) bool { return s.Node != "" && s.Node != st.Node })
		rr.waitChecks(t, 3) // a few more reconciles: no second member appears
		if nodes := memberNodes(t, admin, ss); len(nodes) != 1 || nodes[path.Base(st2.Node)] != st2.SessionID {
			t.Errorf("members %v; want only %s", nodes, st2.Node)
		}
	})

	t.Run("digest auth: members writable only by their creator", func(t *testing.T) {
		const ss = "/discovery/test/acl"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		cfg := registrarConfig(zks.Addr(), ss, port, check)
		cfg.ZooKeeper.Auth = "backend:s3cret"
		rr := startRegistrar(t, cfg)
		st := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
		acl, _, err := admin.GetACL(st.Node)
		if err != nil {
			t.Fatal(err)
		}
		// ZooKeeper 3.8 masks the digest hash ("backend:x") for readers
		// without rights to read it, so compare the user part.
		if len(acl) != 2 || acl[0].Scheme != "digest" || acl[0].Perms != zk.PermAll || !strings.HasPrefix(acl[0].ID, "backend:") ||
			acl[1] != zk.WorldACL(zk.PermRead)[0] {
			t.Errorf("member ACL %+v, want digest backend:… with all rights and world:anyone read", acl)
		}
		if _, err := admin.Set(st.Node, []byte("x"), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("unauthenticated Set on the member: %v, want ErrNoAuth", err)
		}
		// Readers need no credentials.
		zkc := zkConfig(zks.Addr())
		p := watchPool(t, zkc, ss, PoolConfig{})
		p.waitFor(t, "one member", func(s Snapshot) bool { return len(s.Members) == 1 })
		// And a relay with credentials works too.
		zkc.Auth = "relay:pw"
		p2 := watchPool(t, zkc, ss, PoolConfig{})
		p2.waitFor(t, "one member", func(s Snapshot) bool { return len(s.Members) == 1 })
	})

	t.Run("drain marker: re-registered STOPPING, the relay drops it; undrain: back", func(t *testing.T) {
		const ss = "/discovery/test/drain"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		p := watchPool(t, zkConfig(zks.Addr()), ss, PoolConfig{Debounce: dur(20 * time.Millisecond)})
		rr := startRegistrar(t, registrarConfig(zks.Addr(), ss, port, check))
		alive := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
		want := fmt.Sprintf("zookeeper:127.0.0.1:%d", port)
		p.waitMembers(t, want)

		e := Endpoint{Host: "127.0.0.1", Port: port}
		if created, err := Drain(admin, ss, e, "test drain"); err != nil || !created {
			t.Fatalf("Drain = %v, %v; want created", created, err)
		}
		drained := rr.waitNode(t, "re-registered drained", func(s RegistrarStatus) bool {
			return s.Drained && s.Node != "" && s.Node != alive.Node
		})
		data, _, err := admin.Get(drained.Node)
		if err != nil {
			t.Fatal(err)
		}
		if wantData := memberJSONStatus("127.0.0.1", port, StatusDrained); string(data) != wantData {
			t.Errorf("drained member data %s, want %s", data, wantData)
		}
		pm, err := ParseMember(path.Base(drained.Node), data)
		if _, skip := (PoolConfig{}).Select(pm); err != nil || skip != SkipNotAlive {
			t.Errorf("drained member: ParseMember err %v, Select skip %q; want parsed and skipped as %q", err, skip, SkipNotAlive)
		}
		p.waitMembers(t, "") // the relay's watcher takes only ALIVE members
		if nodes := memberNodes(t, admin, ss); len(nodes) != 1 || nodes[path.Base(drained.Node)] == 0 {
			t.Errorf("members while drained %v; want only %s", nodes, drained.Node)
		}
		rr.waitChecks(t, 3) // checks go on while drained: still one member
		if nodes := memberNodes(t, admin, ss); len(nodes) != 1 {
			t.Errorf("members after more checks while drained %v; want one", nodes)
		}

		if existed, err := Undrain(admin, ss, e); err != nil || !existed {
			t.Fatalf("Undrain = %v, %v; want existed", existed, err)
		}
		back := rr.waitNode(t, "re-registered ALIVE", func(s RegistrarStatus) bool {
			return !s.Drained && s.Node != "" && s.Node != drained.Node
		})
		p.waitMembers(t, want)
		if nodes := memberNodes(t, admin, ss); len(nodes) != 1 || nodes[path.Base(back.Node)] == 0 {
			t.Errorf("members after undrain %v; want only %s", nodes, back.Node)
		}
		if got := testutil.ToFloat64(rr.r.met.drained); got != 0 {
			t.Errorf("drained gauge %v after undrain, want 0", got)
		}
		if existed, err := Undrain(admin, ss, e); err != nil || existed {
			t.Errorf("second Undrain = %v, %v; want not existed, no error", existed, err)
		}
	})

	t.Run("drained before the registrar starts: never announced ALIVE", func(t *testing.T) {
		const ss = "/discovery/test/drain-at-start"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		if _, err := Drain(admin, ss, Endpoint{Host: "127.0.0.1", Port: port}, "before start"); err != nil {
			t.Fatal(err)
		}
		rr := startRegistrar(t, registrarConfig(zks.Addr(), ss, port, check))
		st := rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })
		data, _, err := admin.Get(st.Node)
		if err != nil || string(data) != string(rr.r.DrainedData()) || !st.Drained {
			t.Errorf("first member %s (drained %v, err %v); want %s", data, st.Drained, err, rr.r.DrainedData())
		}
		if n := testutil.ToFloat64(rr.r.met.registrations); n != 1 {
			t.Errorf("%v registrations; want 1 (no ALIVE member first)", n)
		}
	})

	t.Run("maintenance file drains while present", func(t *testing.T) {
		const ss = "/discovery/test/maintenance"
		backend, port := testnet.Accepting(t)
		check, _ := ParseCheck("tcp://" + backend)
		cfg := registrarConfig(zks.Addr(), ss, port, check)
		cfg.MaintenanceFile = filepath.Join(t.TempDir(), "maintenance")
		rr := startRegistrar(t, cfg)
		alive := rr.waitNode(t, "registered ALIVE", func(s RegistrarStatus) bool { return s.Node != "" && !s.Drained })
		if err := os.WriteFile(cfg.MaintenanceFile, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		drained := rr.waitNode(t, "drained", func(s RegistrarStatus) bool { return s.Drained && s.Node != "" && s.Node != alive.Node })
		if data, _, err := admin.Get(drained.Node); err != nil || string(data) != memberJSONStatus("127.0.0.1", port, StatusDrained) {
			t.Errorf("member while the maintenance file exists: %s, %v; want status %s", data, err, StatusDrained)
		}
		if err := os.Remove(cfg.MaintenanceFile); err != nil {
			t.Fatal(err)
		}
		back := rr.waitNode(t, "undrained", func(s RegistrarStatus) bool { return !s.Drained && s.Node != "" && s.Node != drained.Node })
		if data, _, err := admin.Get(back.Node); err != nil || string(data) != memberJSON("127.0.0.1", port, "") {
			t.Errorf("member after the maintenance file went: %s, %v; want ALIVE", data, err)
		}
		if nodes := memberNodes(t, admin, ss); len(nodes) != 1 {
			t.Errorf("members %v; want exactly one", nodes)
		}
	})

	t.Run("unhealthy while drained: no member", func(t *testing.T) {
		const ss = "/discovery/test/drain-unhealthy"
		check := newScriptedCheck()
		cfg := registrarConfig(zks.Addr(), ss, 7200, check)
		if _, err := Drain(admin, ss, Endpoint{Host: "127.0.0.1", Port: 7200}, "x"); err != nil {
			t.Fatal(err)
		}
		rr := startRegistrar(t, cfg)
		t.Cleanup(func() { close(check.results) }) // before rr.stop: the check returns
		<-check.entered
		check.step(true)
		st := rr.waitNode(t, "registered drained", func(s RegistrarStatus) bool { return s.Node != "" && s.Drained })
		check.step(false)
		rr.waitNode(t, "deregistered", func(s RegistrarStatus) bool { return s.Node == "" })
		if nodes := memberNodes(t, admin, ss); len(nodes) != 0 {
			t.Errorf("members %v after the check failed while drained (was %s); want none", nodes, st.Node)
		}
	})
}

func memberJSONStatus(host string, port int, status string) string {
	return fmt.Sprintf(`{"serviceEndpoint":{"host":%q,"port":%d},"additionalEndpoints":{},"status":%q}`, host, port, status)
}
