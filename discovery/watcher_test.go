package discovery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDiscoveryWithoutZooKeeper(t *testing.T) {
	d, err := New(Options{ZooKeeper: DefaultZooKeeperConfig()})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMembership(MembershipConfig{Pool: "p", Static: srvs("127.0.2.1:2003")})
	if err := d.Watch("p", PoolConfig{Serverset: "/discovery/x"}, m); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.State != "disabled" || st.Pools["p"].Serverset != "/discovery/x" {
		t.Errorf("Status() = %+v, want state disabled with pool p", st)
	}
	if got := describe(m.Snapshot()); got != "static:127.0.2.1:2003" {
		t.Errorf("membership %q, want the static server", got)
	}
	d.Close()
	d.Close() // idempotent
	for _, tc := range []struct {
		pool string
		cfg  PoolConfig
		err  string
	}{
		{"q", PoolConfig{}, "no serverset"},
		{"q", PoolConfig{Serverset: "rel"}, "absolute"},
		{"p", PoolConfig{Serverset: "/discovery/x"}, "closed"},
	} {
		if err := d.Watch(tc.pool, tc.cfg, m); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Watch(%q, %+v) = %v, want an error containing %q", tc.pool, tc.cfg, err, tc.err)
		}
	}
	if _, err := New(Options{ZooKeeper: ZooKeeperConfig{Servers: []string{"nohost"}}}); err == nil {
		t.Errorf("New with a bad server succeeded")
	}
}

// TestUnresolvableServers: ZooKeeper names that do not resolve (DNS down
// while the relay starts, or a decommissioned ensemble member) are retried
// like unreachable servers: Start and Run do not fail, the pools stay on
// their static servers, and Close and cancellation return.
func TestUnresolvableServers(t *testing.T) {
	zkc := DefaultZooKeeperConfig()
	zkc.Servers = []string{"zk1.ringrelay-test.invalid:2181", "zk2.ringrelay-test.invalid:2181"}
	d, err := New(Options{ZooKeeper: zkc})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMembership(MembershipConfig{Pool: "p", Static: srvs("127.0.2.1:2003")})
	if err := d.Watch("p", PoolConfig{Serverset: "/discovery/x"}, m); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start with servers %q = %v; want nil (retry in the background)", zkc.Servers, err)
	}
	if st := d.Status(); st.State != "connecting" {
		t.Errorf("Status().State = %q, want connecting", st.State)
	}
	if got := describe(m.Snapshot()); got != "static:127.0.2.1:2003" {
		t.Errorf("membership %q, want the static server", got)
	}
	d.Close()

	check, _ := ParseCheck("tcp://127.0.0.1:1")
	met := NewRegistrarMetrics(nil)
	r, err := NewRegistrar(RegistrarConfig{ZooKeeper: zkc, Path: "/discovery/x", Check: check,
		Member: MemberData{ServiceEndpoint: Endpoint{Host: "127.0.0.1", Port: 1}}, Interval: 50 * time.Millisecond,
		Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	// Run must still be running after several check intervals (counted by
	// its checks, not by the wall clock: the machine may be slow).
	const checks = 5
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(met.checkFail) < checks {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Registrar.Run with servers %q returned %v before it was cancelled; want it to keep retrying", zkc.Servers, err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("Registrar.Run made %v checks in 30s; want %d", testutil.ToFloat64(met.checkFail), checks)
		}
		time.Sleep(5 * time.Millisecond) // polling: a counter has no change event
	}
	select {
	case err := <-done:
		cancel()
		t.Fatalf("Registrar.Run with servers %q returned %v before it was cancelled; want it to keep retrying", zkc.Servers, err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}
