package cassandra

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"go.uber.org/zap/zaptest"

	"ringrelay/sinks"
)

// TestRealCassandra is the round trip of the stand-in tests (schema,
// write, overwrite, fetch, find) against a real Cassandra, in a keyspace
// of its own that it drops at the end. It runs only when CASSANDRA_HOSTS
// is set ("host:port,host:port"), e.g. against the docker-compose file's
// Cassandra; it is skipped otherwise, in CI too: no Cassandra can be
// installed on the machines CI runs on.
func TestRealCassandra(t *testing.T) {
	hosts := os.Getenv("CASSANDRA_HOSTS")
	if hosts == "" {
		t.Skip("CASSANDRA_HOSTS is not set: no real Cassandra to test against (skipped in CI too, where none can be installed; the stand-in tests cover the sink there)")
	}
	c := DefaultConfig()
	c.Hosts = strings.Split(hosts, ",")
	c.Keyspace = fmt.Sprintf("ringrelay_test_%d", time.Now().UnixNano())
	c.CQLTimeout.Duration = 10 * time.Second
	c.CQLConnectTimeout.Duration = 10 * time.Second
	c.Username, c.Password = os.Getenv("CASSANDRA_USERNAME"), os.Getenv("CASSANDRA_PASSWORD")
	rets, err := sinks.ParseTimes(testTimes)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open("real", c, rets, testQueue(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropKeyspace(t, c) })
	defer s.Close(context.Background())
	if _, err := s.store.session(); err != nil {
		t.Fatalf("connect: %v", err)
	}

	now := time.Now().Unix()
	now -= now % ten
	e := &env{sink: s}
	s.Write([]sinks.Point{point("servers.web1.cpu", now-ten, 1), point("servers.web1.cpu", now, 2), point("servers.web2.cpu", now, 3)})
	e.waitWritten(t, 3)
	s.Write([]sinks.Point{point("servers.web1.cpu", now, 5)})
	e.waitWritten(t, 4)
	got := e.fetch(t, "servers.web1.cpu", ten, now-hour+ten, now+ten)
	if len(got) != 2 || got[0] != point("servers.web1.cpu", now-ten, 1) || got[1] != point("servers.web1.cpu", now, 5) {
		t.Errorf("fetch: got %+v", got)
	}
	g, _ := sinks.CompileGlob("servers.*.cpu")
	nodes, err := s.Find(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(nodes) != "[{servers.web1.cpu true false} {servers.web2.cpu true false}]" {
		t.Errorf("find: got %v", nodes)
	}
}

// dropKeyspace removes the test's keyspace with a session of its own.
func dropKeyspace(t *testing.T, c Config) {
	hosts, port, _ := c.contactPoints()
	cl := gocql.NewCluster(hosts...)
	cl.Port = port
	cl.Timeout = 30 * time.Second
	if c.Username != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}
	sess, err := cl.CreateSession()
	if err != nil {
		t.Errorf("drop keyspace %s: %v", c.Keyspace, err)
		return
	}
	defer sess.Close()
	if err := sess.Query("DROP KEYSPACE IF EXISTS " + c.Keyspace).Exec(); err != nil {
		t.Errorf("drop keyspace %s: %v", c.Keyspace, err)
	}
}
