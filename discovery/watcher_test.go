package discovery

import (
	"strings"
	"testing"
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
