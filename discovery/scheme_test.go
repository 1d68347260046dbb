package discovery

import (
	"strings"
	"testing"
	"time"

	"ringrelay/config"
)

func TestMemberSchemeValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg PoolConfig
		err string
	}{
		{cfg: PoolConfig{Serverset: "/ss"}},
		{cfg: PoolConfig{Serverset: "/ss", MemberScheme: "tcp"}},
		{cfg: PoolConfig{Serverset: "/ss", MemberScheme: "udp"}},
		{cfg: PoolConfig{Serverset: "/ss", MemberScheme: "endpoint", Endpoint: "statsd_udp"}},
		{cfg: PoolConfig{Serverset: "/ss", MemberScheme: "endpoint", Endpoint: "http"}}, // members are skipped, see Select
		{cfg: PoolConfig{Serverset: "/ss", MemberScheme: "endpoint"}, err: `member_scheme "endpoint": needs endpoint`},
		{cfg: PoolConfig{Serverset: "/ss", MemberScheme: "UDP"}, err: `member_scheme "UDP": want "", "tcp", "udp" or "endpoint"`},
		{cfg: PoolConfig{Serverset: "/ss", MemberScheme: "unix"}, err: `member_scheme "unix": want "", "tcp", "udp" or "endpoint"`},
		{cfg: PoolConfig{MemberScheme: "udp"}, err: "member_scheme need a serverset"},
		{cfg: PoolConfig{MemberScheme: "udp"}, err: "member_scheme need a serverset"},
		{cfg: PoolConfig{MemberScheme: "tcp"}}, // the default, spelled out: fine on a static pool
	} {
		err := tc.cfg.Validate()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.cfg, err, tc.err)
		}
	}
}

func TestEndpointScheme(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"udp", "udp"},
		{"tcp", "tcp"},
		{"UDP", "udp"},
		{"statsd_udp", "udp"},
		{"statsd-udp", "udp"},
		{"carbon_tcp", "tcp"},
		{"carbon-TCP", "tcp"},
		{"udp_statsd", ""},
		{"statsdudp", ""},
		{"_udp", "udp"},
		{"http", ""},
		{"", ""},
		{"tcp_udp", "udp"},
	} {
		if got := EndpointScheme(tc.name); got != tc.want {
			t.Errorf("EndpointScheme(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSelectMemberScheme(t *testing.T) {
	member := `{"serviceEndpoint":{"host":"10.0.0.1","port":2003},"additionalEndpoints":{` +
		`"udp":{"host":"10.0.0.1","port":8125},"statsd_udp":{"host":"10.0.0.1","port":8126},` +
		`"carbon-tcp":{"host":"10.0.0.1","port":2004},"tcp":{"host":"10.0.0.1","port":2005},` +
		`"http":{"host":"10.0.0.1","port":80}},"status":"ALIVE","shard":3}`
	pm, err := ParseMember("member_0000000001", []byte(member))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scheme, endpoint, instanceFrom string
		want                           string // Server.ID, or "skip:REASON"
	}{
		{scheme: "", want: "tcp://10.0.0.1:2003"},
		{scheme: "tcp", want: "tcp://10.0.0.1:2003"},
		{scheme: "udp", want: "udp://10.0.0.1:2003"},
		{scheme: "udp", endpoint: "http", want: "udp://10.0.0.1:80"},
		{scheme: "udp", instanceFrom: "shard", want: "udp://10.0.0.1:2003=3"},
		{scheme: "", endpoint: "udp", want: "tcp://10.0.0.1:8125"},
		{scheme: "endpoint", endpoint: "udp", want: "udp://10.0.0.1:8125"},
		{scheme: "endpoint", endpoint: "statsd_udp", want: "udp://10.0.0.1:8126"},
		{scheme: "endpoint", endpoint: "carbon-tcp", want: "tcp://10.0.0.1:2004"},
		{scheme: "endpoint", endpoint: "tcp", instanceFrom: "shard", want: "tcp://10.0.0.1:2005=3"},
		{scheme: "endpoint", endpoint: "http", want: "skip:" + string(SkipNoScheme)},
		{scheme: "endpoint", endpoint: "missing_udp", want: "skip:" + string(SkipNoEndpoint)},
	} {
		cfg := PoolConfig{Serverset: "/ss", MemberScheme: tc.scheme, Endpoint: tc.endpoint, InstanceFrom: tc.instanceFrom}
		s, skip := cfg.Select(pm)
		got := s.ID()
		if skip != "" {
			got = "skip:" + string(skip)
		}
		if got != tc.want {
			t.Errorf("member_scheme %q endpoint %q instance_from %q: Select = %q, want %q", tc.scheme, tc.endpoint, tc.instanceFrom, got, tc.want)
		}
		if skip == "" {
			if back, err := ParseServer(s.String()); err != nil || back.ID() != s.ID() {
				t.Errorf("Select = %+v, whose String %q does not parse back: %v", s, s.String(), err)
			}
		}
	}
}

func TestMemberSchemeDecodes(t *testing.T) {
	var f testFile
	data := "[pools.statsd]\nserverset = \"/ss\"\nendpoint = \"statsd_udp\"\nmember_scheme = \"endpoint\"\n"
	if err := config.DecodeStrict([]byte(data), &f); err != nil {
		t.Fatalf("DecodeStrict(%q): %v", data, err)
	}
	if got := f.Pools["statsd"].MemberScheme; got != "endpoint" {
		t.Errorf("member_scheme decoded as %q, want %q", got, "endpoint")
	}
}

func TestZooKeeperStartWait(t *testing.T) {
	if got := DefaultZooKeeperConfig().StartWait.Duration; got != 5*time.Second {
		t.Errorf("default start_wait = %v, want 5s", got)
	}
	for _, tc := range []struct {
		wait time.Duration
		err  string
	}{
		{wait: 0},
		{wait: time.Minute},
		{wait: -time.Second, err: "zookeeper.start_wait -1s: must not be negative"},
	} {
		c := DefaultZooKeeperConfig()
		c.StartWait.Duration = tc.wait
		err := c.Validate()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Validate with start_wait %v = %v, want error containing %q", tc.wait, err, tc.err)
		}
	}
}
