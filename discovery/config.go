package discovery

import (
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"ringrelay/config"
)

// ZooKeeperConfig is the relay's [zookeeper] section (and the registrar's
// connection settings). Empty Servers means no ZooKeeper: every pool runs on
// its static servers and the HTTP overlay.
type ZooKeeperConfig struct {
	// Servers are host:port pairs of the ensemble.
	Servers []string `toml:"servers"`
	// SessionTimeout is the session timeout asked of the server (which
	// clamps it to [2, 20] x its tickTime).
	SessionTimeout config.Duration `toml:"session_timeout"`
	// ResyncInterval is how often every watched serverset is re-listed even
	// without an event, in case a watch was lost (0 disables it).
	ResyncInterval config.Duration `toml:"resync_interval"`
	// Auth is optional digest credentials "user:password", sent on every
	// (re)connect. The registrar creates its members with an ACL giving this
	// identity all rights and everyone else read.
	Auth string `toml:"auth"`
	// MaxConcurrentGets bounds the member reads in flight at once, over all
	// pools, so a large deploy does not hit ZooKeeper with a thundering herd.
	MaxConcurrentGets int `toml:"max_concurrent_gets"`
	// StartWait is how long the relay waits at start (and for pools a
	// reload adds) for every serverset's first sync (Membership.Synced)
	// before it routes; pools not synced by then start on their saved or
	// static servers. 0 does not wait.
	StartWait config.Duration `toml:"start_wait"`
}

// DefaultZooKeeperConfig returns the defaults: no servers, a 10 s session,
// a resync every minute, 32 concurrent member reads, a 5 s start wait.
func DefaultZooKeeperConfig() ZooKeeperConfig {
	return ZooKeeperConfig{
		SessionTimeout:    config.Duration{Duration: 10 * time.Second},
		ResyncInterval:    config.Duration{Duration: time.Minute},
		MaxConcurrentGets: 32,
		StartWait:         config.Duration{Duration: 5 * time.Second},
	}
}

// Enabled reports whether any ZooKeeper server is configured.
func (c ZooKeeperConfig) Enabled() bool { return len(c.Servers) > 0 }

// Validate checks the section.
func (c ZooKeeperConfig) Validate() error {
	var errs []error
	for _, s := range c.Servers {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			errs = append(errs, fmt.Errorf("zookeeper.servers: %q is not host:port", s))
			continue
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("zookeeper.servers: %q: port is not in 1..65535", s))
		}
	}
	if c.SessionTimeout.Duration < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("zookeeper.session_timeout %s: must be at least 100ms", c.SessionTimeout.Duration))
	}
	if c.StartWait.Duration < 0 {
		errs = append(errs, fmt.Errorf("zookeeper.start_wait %s: must not be negative", c.StartWait.Duration))
	}
	if c.MaxConcurrentGets < 1 {
		errs = append(errs, fmt.Errorf("zookeeper.max_concurrent_gets %d: must be at least 1", c.MaxConcurrentGets))
	}
	if c.Auth != "" {
		if u, p, ok := strings.Cut(c.Auth, ":"); !ok || u == "" || p == "" {
			errs = append(errs, errors.New(`zookeeper.auth: want "user:password"`))
		}
	}
	return errors.Join(errs...)
}

// memberACL is the ACL of member znodes: all rights to the creator's digest
// identity and read to everyone, or open when no auth is configured.
func (c ZooKeeperConfig) memberACL() []zk.ACL {
	user, pass, ok := strings.Cut(c.Auth, ":")
	if !ok {
		return zk.WorldACL(zk.PermAll)
	}
	return append(zk.DigestACL(zk.PermAll, user, pass), zk.WorldACL(zk.PermRead)...)
}

// PoolConfig holds the discovery keys of a pool's TOML section; proxy embeds
// it anonymously so the keys sit directly under [pools.NAME].
type PoolConfig struct {
	// Serverset is the ZooKeeper path whose members form the pool; empty
	// means the pool is static (plus the HTTP overlay).
	Serverset string `toml:"serverset"`
	// Endpoint selects additionalEndpoints[Endpoint] instead of the
	// serviceEndpoint; members without it are skipped.
	Endpoint string `toml:"endpoint"`
	// Shard, when set, keeps only members announcing this shard.
	Shard *int32 `toml:"shard"`
	// InstanceFrom names where a member's ring instance comes from: "" (none:
	// the identity is host:port), "shard", or "metadata:KEY". With an
	// instance, a backend that re-registers at a new address keeps its keys
	// on rings that hash the instance.
	InstanceFrom string `toml:"instance_from"`
	// MemberScheme is how members are reached: "" or "tcp" (the default),
	// "udp" (every member, e.g. a statsd tier), or "endpoint": the scheme is
	// the selected Endpoint's name's, "udp"/"tcp" or a name ending in
	// "_udp"/"-udp" or "_tcp"/"-tcp" (any case); with a name that says
	// neither, members are skipped (SkipNoScheme).
	MemberScheme string `toml:"member_scheme"`
	// Debounce coalesces serverset changes: a change is applied at most this
	// long after it is seen, with all the others seen meanwhile; at most one
	// rebuild per window. 0 applies every sync at once.
	Debounce config.Duration `toml:"debounce"`
	// RemoveDelay keeps a member that left the serverset for this long
	// before it leaves the ring (Finagle's stabilizer limbo); it is cancelled
	// if the member returns. 0 removes at the next rebuild.
	RemoveDelay config.Duration `toml:"remove_delay"`
	// EmptyHold is how long a serverset update that would leave the pool
	// without servers must persist before it is applied; until then the last
	// non-empty membership is kept. 0 applies it like any other update.
	EmptyHold config.Duration `toml:"empty_hold"`
}

// DefaultPoolConfig returns the defaults: no serverset, debounce 1 s, no
// remove delay, an emptying update held for 30 s.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{
		Debounce:  config.Duration{Duration: time.Second},
		EmptyHold: config.Duration{Duration: 30 * time.Second},
	}
}

// Validate checks the pool's discovery keys.
func (c PoolConfig) Validate() error {
	var errs []error
	if c.Serverset != "" {
		if !strings.HasPrefix(c.Serverset, "/") || c.Serverset == "/" || strings.HasSuffix(c.Serverset, "/") ||
			path.Clean(c.Serverset) != c.Serverset {
			errs = append(errs, fmt.Errorf("serverset %q: want an absolute ZooKeeper path such as /discovery/prod/carbon", c.Serverset))
		}
	} else if c.Endpoint != "" || c.Shard != nil || c.InstanceFrom != "" || (c.MemberScheme != "" && c.MemberScheme != "tcp") {
		errs = append(errs, errors.New("endpoint, shard, instance_from and member_scheme need a serverset"))
	}
	if c.Shard != nil && *c.Shard < 0 {
		errs = append(errs, fmt.Errorf("shard %d: must not be negative", *c.Shard))
	}
	switch {
	case c.InstanceFrom == "", c.InstanceFrom == "shard":
	case strings.HasPrefix(c.InstanceFrom, "metadata:") && len(c.InstanceFrom) > len("metadata:"):
	default:
		errs = append(errs, fmt.Errorf(`instance_from %q: want "", "shard" or "metadata:KEY"`, c.InstanceFrom))
	}
	switch c.MemberScheme {
	case "", "tcp", "udp":
	case "endpoint":
		if c.Endpoint == "" {
			errs = append(errs, errors.New(`member_scheme "endpoint": needs endpoint, whose name gives the scheme`))
		}
	default:
		errs = append(errs, fmt.Errorf(`member_scheme %q: want "", "tcp", "udp" or "endpoint"`, c.MemberScheme))
	}
	return errors.Join(errs...)
}

// EndpointScheme returns the scheme an endpoint's name says, for
// member_scheme = "endpoint": "udp" for "udp" or a name ending in "_udp" or
// "-udp", "tcp" likewise, compared without case; "" when the name says
// neither.
func EndpointScheme(name string) string {
	n := strings.ToLower(name)
	for _, scheme := range []string{"udp", "tcp"} {
		if n == scheme || strings.HasSuffix(n, "_"+scheme) || strings.HasSuffix(n, "-"+scheme) {
			return scheme
		}
	}
	return ""
}

// Select maps a parsed member to the pool's server, or says why the member
// is skipped: not ALIVE, lacking the selected endpoint, another shard, no
// instance where instance_from asks for one, or (member_scheme "endpoint")
// an endpoint name that names no scheme. The server's Proto is the
// member_scheme's.
func (c PoolConfig) Select(pm ParsedMember) (Server, SkipReason) {
	if !pm.Alive {
		return Server{}, SkipNotAlive
	}
	var ep Endpoint
	if c.Endpoint == "" {
		if pm.Service == nil {
			return Server{}, SkipBadEndpoint
		}
		ep = *pm.Service
	} else {
		e, ok := pm.Additional[c.Endpoint]
		if !ok {
			return Server{}, SkipNoEndpoint
		}
		ep = e
	}
	if c.Shard != nil && (pm.Shard == nil || *pm.Shard != *c.Shard) {
		return Server{}, SkipShardMismatch
	}
	srv := Server{Proto: "tcp", Host: ep.Host, Port: ep.Port}
	switch c.MemberScheme {
	case "udp":
		srv.Proto = "udp"
	case "endpoint":
		if srv.Proto = EndpointScheme(c.Endpoint); srv.Proto == "" {
			return Server{}, SkipNoScheme
		}
	}
	switch {
	case c.InstanceFrom == "shard":
		if pm.Shard == nil {
			return Server{}, SkipNoInstance
		}
		srv.Instance = strconv.Itoa(int(*pm.Shard))
	case strings.HasPrefix(c.InstanceFrom, "metadata:"):
		v := pm.Metadata[strings.TrimPrefix(c.InstanceFrom, "metadata:")]
		if v == "" || strings.ContainsAny(v, " \t\r\n,=") {
			return Server{}, SkipNoInstance
		}
		srv.Instance = v
	}
	// The relay shows and accepts servers as text (HTTP add/purge, /pools):
	// a host that would not parse back is unusable.
	if back, err := ParseServer(srv.String()); err != nil || back.ID() != srv.ID() {
		return Server{}, SkipBadEndpoint
	}
	return srv, ""
}
