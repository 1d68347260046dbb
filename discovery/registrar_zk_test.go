package discovery

import (
	"errors"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

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
			r.zk = &zkClient{conn: testConn(t, zks.Addr(), 4*time.Second), hasSession: true}
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
		backend, port := liveBackend(t)
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
		backend, port := liveBackend(t)
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
}
