package cassandra

import (
	"strings"
	"testing"
	"time"

	"ringrelay/config"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // error prefix; "" for valid
	}{
		{"defaults with hosts", func(c *Config) {}, ""},
		{"host without port", func(c *Config) { c.Hosts = []string{"cass1", "cass2"} }, ""},
		{"lower-case consistency", func(c *Config) { c.Consistency = "local_quorum" }, ""},
		{"no hosts", func(c *Config) { c.Hosts = nil }, "hosts: required"},
		{"bad port", func(c *Config) { c.Hosts = []string{"cass1:90420"} }, `hosts: "cass1:90420": port`},
		{"no host name", func(c *Config) { c.Hosts = []string{":9042"} }, `hosts: ":9042": no host name`},
		{"two ports", func(c *Config) { c.Hosts = []string{"a:9042", "b:9043"} }, `hosts: "b:9043": every host must use the same port`},
		{"upper-case keyspace", func(c *Config) { c.Keyspace = "Metrics" }, `keyspace "Metrics"`},
		{"keyspace with a dot", func(c *Config) { c.Keyspace = "a.b" }, `keyspace "a.b"`},
		{"replication not a map", func(c *Config) { c.Replication = "SimpleStrategy" }, `replication "SimpleStrategy"`},
		{"bad consistency", func(c *Config) { c.Consistency = "MOST" }, `consistency "MOST": must be one of`},
		{"zero cql_timeout", func(c *Config) { c.CQLTimeout.Duration = 0 }, "cql_timeout"},
		{"zero cql_connect_timeout", func(c *Config) { c.CQLConnectTimeout.Duration = 0 }, "cql_connect_timeout"},
		{"fractional bucket", func(c *Config) { c.Bucket.Duration = 1500 * time.Millisecond }, `bucket "1.5s"`},
		{"password alone", func(c *Config) { c.Password = "secret" }, "password: set without a username"},
	} {
		c := DefaultConfig()
		c.Hosts = []string{"cass1:9042"}
		tc.change(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: got %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error starting %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}

// TestConfigFromTOML: the keys decode over the defaults, as the relay
// decodes a section, and create_schema = false stays false.
func TestConfigFromTOML(t *testing.T) {
	c := DefaultConfig()
	err := config.DecodeStrict([]byte(`
hosts = ["10.0.0.1:9142", "10.0.0.2:9142"]
keyspace = "metrics"
consistency = "LOCAL_QUORUM"
cql_timeout = "2s"
create_schema = false
bucket = "6h"
username = "relay"
password = "pw"
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	hosts, port, _ := c.contactPoints()
	if c.CreateSchema || c.Bucket.Duration != 6*time.Hour || c.CQLConnectTimeout.Duration != 5*time.Second ||
		port != 9142 || strings.Join(hosts, ",") != "10.0.0.1,10.0.0.2" || c.Replication != DefaultConfig().Replication {
		t.Errorf("decoded: %+v (hosts %v, port %d)", c, hosts, port)
	}
	if !DefaultConfig().CreateSchema {
		t.Error("create_schema: default is off, want on")
	}
}
