package cassandra

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"ringrelay/config"
)

// defaultPort is Cassandra's native protocol port, for hosts given without one.
const defaultPort = 9042

// keyspaceName is what needs no quoting in CQL (unquoted names are folded
// to lower case, so only lower case is allowed: what you write is what
// Cassandra shows).
var keyspaceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// Config is the cassandra kind's own keys of a [sinks.NAME] section.
type Config struct {
	// Hosts are the contact points, "host:port" (or "host" for port
	// 9042); gocql finds the rest of the cluster from them. They must
	// share one port: gocql dials the nodes it discovers on it. Required.
	Hosts []string `toml:"hosts"`
	// Keyspace holds the sink's tables.
	Keyspace string `toml:"keyspace"`
	// Replication is the keyspace's replication map, used when the sink
	// creates the keyspace, e.g. "{'class': 'NetworkTopologyStrategy',
	// 'dc1': 3}".
	Replication string `toml:"replication"`
	// Consistency is the consistency level of writes and reads: ANY, ONE,
	// TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE.
	Consistency string `toml:"consistency"`
	// CQLTimeout bounds one request to a node.
	CQLTimeout config.Duration `toml:"cql_timeout"`
	// CQLConnectTimeout bounds a connection's dial and handshake.
	CQLConnectTimeout config.Duration `toml:"cql_connect_timeout"`
	// CreateSchema creates the keyspace and tables if missing (at the
	// first connection). Off where the schema is managed by hand. (A
	// plain bool: sections are decoded over DefaultConfig, which sets it;
	// a pointer would be shared by the copies of a default.)
	CreateSchema bool `toml:"create_schema"`
	// Bucket is the time span of one points partition: a series' points
	// of one resolution in [k*bucket, (k+1)*bucket) share a partition.
	// Changing it on a keyspace that holds data hides that data.
	Bucket config.Duration `toml:"bucket"`
	// Username and Password log in with Cassandra's PasswordAuthenticator;
	// empty: no authentication.
	Username string `toml:"username"`
	Password string `toml:"password"`
}

// DefaultConfig returns the defaults: no hosts (they are required),
// keyspace "ringrelay" with SimpleStrategy and one replica, consistency
// ONE, 5 s timeouts, schema created if missing, day-long buckets.
func DefaultConfig() Config {
	return Config{
		Keyspace:          "ringrelay",
		Replication:       "{'class': 'SimpleStrategy', 'replication_factor': 1}",
		Consistency:       "ONE",
		CQLTimeout:        config.Duration{Duration: 5 * time.Second},
		CQLConnectTimeout: config.Duration{Duration: 5 * time.Second},
		CreateSchema:      true,
		Bucket:            config.Duration{Duration: 24 * time.Hour},
	}
}

// Validate reports the first setting that cannot work; the error starts
// with the key's name. It never repeats the password.
func (c Config) Validate() error {
	if _, _, err := c.contactPoints(); err != nil {
		return err
	}
	if !keyspaceName.MatchString(c.Keyspace) {
		return fmt.Errorf("keyspace %q: must be a lower-case letter then up to 47 lower-case letters, digits or '_'", c.Keyspace)
	}
	if r := strings.TrimSpace(c.Replication); !strings.HasPrefix(r, "{") || !strings.HasSuffix(r, "}") || !strings.Contains(r, "'class'") {
		return fmt.Errorf("replication %q: must be a CQL map with a 'class', e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}", c.Replication)
	}
	if _, err := gocql.ParseConsistencyWrapper(c.Consistency); err != nil {
		return fmt.Errorf("consistency %q: must be one of ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE", c.Consistency)
	}
	if c.CQLTimeout.Duration <= 0 {
		return fmt.Errorf("cql_timeout %q: must be positive", c.CQLTimeout.Duration)
	}
	if c.CQLConnectTimeout.Duration <= 0 {
		return fmt.Errorf("cql_connect_timeout %q: must be positive", c.CQLConnectTimeout.Duration)
	}
	if b := c.Bucket.Duration; b < time.Second || b%time.Second != 0 {
		return fmt.Errorf("bucket %q: must be whole seconds, at least 1s", b)
	}
	if c.Password != "" && c.Username == "" {
		return fmt.Errorf("password: set without a username")
	}
	return nil
}

// contactPoints splits Hosts into host names and their one port.
func (c Config) contactPoints() (hosts []string, port int, err error) {
	if len(c.Hosts) == 0 {
		return nil, 0, fmt.Errorf("hosts: required (e.g. [\"cassandra1:9042\", \"cassandra2:9042\"])")
	}
	for _, h := range c.Hosts {
		host, p := h, defaultPort
		if strings.Contains(h, ":") {
			var ps string
			if host, ps, err = net.SplitHostPort(h); err != nil {
				return nil, 0, fmt.Errorf("hosts: %q: %w", h, err)
			}
			if p, err = strconv.Atoi(ps); err != nil || p < 1 || p > 65535 {
				return nil, 0, fmt.Errorf("hosts: %q: port must be 1-65535", h)
			}
		}
		if host == "" {
			return nil, 0, fmt.Errorf("hosts: %q: no host name", h)
		}
		if port != 0 && p != port {
			return nil, 0, fmt.Errorf("hosts: %q: every host must use the same port (%d), as gocql dials the nodes it discovers on one port", h, port)
		}
		hosts, port = append(hosts, host), p
	}
	return hosts, port, nil
}

// consistency is the validated consistency level.
func (c Config) consistency() gocql.Consistency {
	cl, _ := gocql.ParseConsistencyWrapper(c.Consistency)
	return cl
}
