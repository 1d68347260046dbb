package discovery

import (
	"strings"
	"testing"
	"time"

	"ringrelay/config"
)

// A pool section as proxy declares it: PoolConfig embedded anonymously.
type testPool struct {
	Hasher  string   `toml:"hasher"`
	Servers []string `toml:"servers"`
	PoolConfig
}

type testFile struct {
	ZooKeeper ZooKeeperConfig     `toml:"zookeeper"`
	Pools     map[string]testPool `toml:"pools"`
}

func TestPoolConfigFlattensInTOML(t *testing.T) {
	data := `
[zookeeper]
servers = ["127.0.0.1:2181", "zk2:2181"]
session_timeout = "4s"
auth = "relay:secret"

[pools.carbon]
hasher = "carbon_ch"
serverset = "/discovery/prod/carbon-cache"
endpoint = "pickle"
shard = 3
instance_from = "shard"
debounce = "2s"
remove_delay = "5s"
empty_hold = "1m"
servers = ["127.0.2.1:2003"]
`
	f := testFile{ZooKeeper: DefaultZooKeeperConfig()}
	if err := config.DecodeStrict([]byte(data), &f); err != nil {
		t.Fatalf("DecodeStrict: %v", err)
	}
	got := f.Pools["carbon"]
	if got.Serverset != "/discovery/prod/carbon-cache" || got.Endpoint != "pickle" || got.Shard == nil || *got.Shard != 3 ||
		got.InstanceFrom != "shard" || got.Debounce.Duration != 2*time.Second || got.RemoveDelay.Duration != 5*time.Second ||
		got.EmptyHold.Duration != time.Minute || got.Hasher != "carbon_ch" {
		t.Errorf("decoded pool = %+v, want every key of %q", got, data)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	zk := f.ZooKeeper
	if len(zk.Servers) != 2 || zk.SessionTimeout.Duration != 4*time.Second || zk.Auth != "relay:secret" ||
		zk.ResyncInterval.Duration != time.Minute || zk.MaxConcurrentGets != 32 {
		t.Errorf("decoded zookeeper = %+v", zk)
	}
	if err := zk.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	if err := config.DecodeStrict([]byte("[pools.x]\nserverset=\"/a\"\ndebounc=\"2s\"\n"), &f); err == nil ||
		!strings.Contains(err.Error(), "debounc") {
		t.Errorf("unknown key: err = %v, want it to name debounc", err)
	}
}

func TestPoolConfigValidate(t *testing.T) {
	neg := int32(-1)
	for _, tc := range []struct {
		cfg PoolConfig
		err string
	}{
		{cfg: DefaultPoolConfig()},
		{cfg: PoolConfig{Serverset: "/discovery/prod/x", InstanceFrom: "metadata:name"}},
		{cfg: PoolConfig{Serverset: "discovery/x"}, err: "absolute"},
		{cfg: PoolConfig{Serverset: "/discovery/x/"}, err: "absolute"},
		{cfg: PoolConfig{Serverset: "/a//b"}, err: "absolute"},
		{cfg: PoolConfig{Serverset: "/a", InstanceFrom: "metadata:"}, err: "instance_from"},
		{cfg: PoolConfig{Serverset: "/a", InstanceFrom: "member"}, err: "instance_from"},
		{cfg: PoolConfig{Serverset: "/a", Shard: &neg}, err: "negative"},
		{cfg: PoolConfig{Endpoint: "x"}, err: "need a serverset"},
	} {
		err := tc.cfg.Validate()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.cfg, err, tc.err)
		}
	}
}

func TestZooKeeperConfigValidate(t *testing.T) {
	ok := DefaultZooKeeperConfig()
	for _, tc := range []struct {
		mod func(*ZooKeeperConfig)
		err string
	}{
		{mod: func(c *ZooKeeperConfig) {}},
		{mod: func(c *ZooKeeperConfig) { c.Servers = []string{"127.0.0.1:2181"} }},
		{mod: func(c *ZooKeeperConfig) { c.Servers = []string{"zk1"} }, err: "host:port"},
		{mod: func(c *ZooKeeperConfig) { c.Servers = []string{"zk1:0"} }, err: "1..65535"},
		{mod: func(c *ZooKeeperConfig) { c.SessionTimeout.Duration = 0 }, err: "session_timeout"},
		{mod: func(c *ZooKeeperConfig) { c.MaxConcurrentGets = 0 }, err: "max_concurrent_gets"},
		{mod: func(c *ZooKeeperConfig) { c.Auth = "user" }, err: "user:password"},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", c, err, tc.err)
		}
	}
}
