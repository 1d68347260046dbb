package proxy

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"ringrelay/config"
	"ringrelay/discovery"
	"ringrelay/graphiteapi"
	"ringrelay/hashring"
	"ringrelay/proxy/backend"
	"ringrelay/proxy/line"
)

// Config is the whole relay configuration file. Each section's struct lives
// with the code that uses it; this one composes them.
type Config struct {
	Admin AdminConfig `toml:"admin"`
	// ShutdownTimeout bounds how long SIGTERM waits for backend queues to
	// drain; lines still queued then are counted as dropped (shutdown).
	ShutdownTimeout config.Duration `toml:"shutdown_timeout"`
	// MaxQueueBytes bounds the bytes queued over all backends together, on
	// top of each pool's queue_bytes; a batch beyond it is dropped and
	// counted (global_queue_full). Default: a quarter of the memory the
	// process may use (cgroup limit, else physical memory).
	MaxQueueBytes config.ByteSize `toml:"max_queue_bytes"`
	// MaxConnections caps the client connections open at once over all
	// listeners (and HTTP requests in progress); beyond it a connection is
	// closed at once and counted (connections_refused).
	MaxConnections int `toml:"max_connections"`
	// StateDir is where the relay keeps state across restarts: each
	// serverset pool's last-known-good membership, so a relay restarted
	// while ZooKeeper is down routes as before. Empty keeps nothing.
	StateDir  string                    `toml:"state_dir"`
	ZooKeeper discovery.ZooKeeperConfig `toml:"zookeeper"`
	Listeners []ListenerConfig          `toml:"listeners"`
	Rules     []RuleConfig              `toml:"rules"`
	Pools     map[string]PoolConfig     `toml:"pools"`
	// Aggregators accumulate lines (statsd, or graphite time bins) and
	// flush what they accumulated to pools; listeners and rules send to
	// them by name.
	Aggregators map[string]AggregatorConfig `toml:"aggregators"`
	// Sinks store what aggregators flush (an output "sink:NAME"), for the
	// Graphite read API and for other tools.
	Sinks map[string]SinkConfig `toml:"sinks"`
	// GraphiteAPI serves a sink's data the way graphite-web does, on the
	// admin listener and optionally on its own.
	GraphiteAPI graphiteapi.Config `toml:"graphiteapi"`
}

// AdminConfig is the [admin] section: the operator's HTTP endpoint.
type AdminConfig struct {
	// Listen is host:port for /metrics, /stats, /pools, ...; empty disables.
	Listen string `toml:"listen"`
	// Token, when set, is the bearer token that every mutating request
	// (any method but GET, HEAD and OPTIONS) and /debug/pprof must carry.
	// TokenFile names a file holding it instead, read (and trimmed) at
	// start and on reload; set one of the two, or neither.
	Token     string `toml:"token"`
	TokenFile string `toml:"token_file"`
	// AllowedHosts are the host names, besides IP literals and localhost,
	// that a mutating request's Host header may carry (DNS rebinding).
	AllowedHosts []string `toml:"allowed_hosts"`
	// PProf serves /debug/pprof; off, it answers 404.
	PProf bool `toml:"pprof"`
	// MetricsListen is an optional second host:port serving only GET
	// /metrics and /ops/status, so scrapers need not reach the API.
	MetricsListen string `toml:"metrics_listen"`

	// readHeaderTimeout and readTimeout replace the servers' 10s and 30s
	// when set (tests of slow clients).
	readHeaderTimeout, readTimeout time.Duration
}

// ListenerConfig is one [[listeners]] entry.
type ListenerConfig struct {
	// Name identifies the listener in rules, metrics and logs.
	Name string `toml:"name"`
	// Listen is tcp://host:port, udp://host:port, unix:///path or
	// http://host:port (POST bodies are lines). Port 0 picks a free port.
	Listen string `toml:"listen"`
	// Pool receives the lines no rule sends elsewhere.
	Pool string `toml:"pool"`
	// Aggregator, instead of Pool, accumulates them (see [aggregators]).
	Aggregator string `toml:"aggregator"`
	line.FormatConfig
	// MaxLine is the longest line accepted; longer ones are counted
	// (reason too_long) and dropped, and the connection keeps working.
	MaxLine config.ByteSize `toml:"max_line"`
	// ReadBuffer is the socket receive buffer (SO_RCVBUF) for udp listeners.
	ReadBuffer config.ByteSize `toml:"read_buffer"`
	// Readers is the number of goroutines reading a udp listener's socket
	// (each with its own dispatcher); default: the number of CPUs, at most 4.
	Readers int `toml:"readers"`
	// IdleTimeout closes a stream connection (tcp, unix, an http POST body)
	// that sends nothing for this long; default 10m, as carbon-c-relay.
	// "0s" keeps idle connections forever.
	IdleTimeout *config.Duration `toml:"idle_timeout"`
}

// RuleConfig is one [[rules]] entry: a pre-routing rule of a listener,
// evaluated in config order on each line's key. The first match wins.
type RuleConfig struct {
	Listener string `toml:"listener"`
	// Match is a Go regexp matched against the key.
	Match string `toml:"match"`
	// Pool sends matching lines to another pool.
	Pool string `toml:"pool"`
	// Aggregator sends matching lines to an aggregator.
	Aggregator string `toml:"aggregator"`
	// Reject drops matching lines (counted as rejected).
	Reject bool `toml:"reject"`
}

// PoolConfig is one [pools.NAME] section: the ring, its members and the
// settings of each member's outbound queue.
type PoolConfig struct {
	// Hasher names the ring algorithm (see hashring.Hashers).
	Hasher string `toml:"hasher"`
	// Compat names the peer whose variant of the hasher to reproduce.
	Compat string `toml:"compat"`
	// Replication sends each line to this many distinct members.
	Replication int `toml:"replication"`
	// DiverseReplicas (compat carbon) places replicas on distinct hosts.
	DiverseReplicas *bool `toml:"diverse_replicas"`
	// Partitions is jump_partition's fixed partition count.
	Partitions int `toml:"partitions"`
	// Servers are the static members, [tcp|udp|unix://]host:port[=instance],
	// in ring order: the membership until a serverset has synced.
	Servers []string `toml:"servers"`
	// DrainOnRemove is how long a backend removed from the ring may keep
	// sending what it has queued; the rest is counted as backend_gone.
	DrainOnRemove config.Duration `toml:"drain_on_remove"`
	// ApplyChanges is when membership changes reach the ring: "immediate",
	// or "aligned:10s": at the next multiple of 10 s on the wall clock, so
	// every relay of a tier switches at the same instant, and a statsd
	// aggregator tier flushing every 10 s sees each key's interval on one
	// aggregator only.
	ApplyChanges string `toml:"apply_changes"`
	discovery.PoolConfig
	backend.Config
}

// DefaultConfig is the configuration the relay runs on without -config: a
// graphite TCP listener and a statsd UDP listener on loopback, forwarding to
// a local carbon-cache and statsd. It works on a bare machine (lines to
// absent backends queue within their bound and are delivered when they come).
func DefaultConfig() Config {
	return Config{
		Admin:           AdminConfig{Listen: "127.0.0.1:6061"},
		ShutdownTimeout: config.Duration{Duration: 10 * time.Second},
		ZooKeeper:       discovery.DefaultZooKeeperConfig(),
		GraphiteAPI:     graphiteapi.DefaultConfig(),
		Listeners: []ListenerConfig{
			{Name: "graphite", Listen: "tcp://127.0.0.1:2003", Pool: "carbon", FormatConfig: line.FormatConfig{Format: "graphite"}},
			{Name: "graphite-udp", Listen: "udp://127.0.0.1:2003", Pool: "carbon", FormatConfig: line.FormatConfig{Format: "graphite"}},
			{Name: "statsd", Listen: "udp://127.0.0.1:8125", Pool: "statsd", FormatConfig: line.FormatConfig{Format: "statsd"}},
		},
		Pools: map[string]PoolConfig{
			"carbon": defaultPool("carbon_ch", "127.0.0.1:2103=a", "127.0.0.1:2203=b"),
			"statsd": defaultPool("statsd", "udp://127.0.0.1:8126"),
		},
	}
}

func defaultPool(hasher string, servers ...string) PoolConfig {
	p := poolDefaults()
	p.Hasher = hasher
	p.Servers = servers
	return p
}

func poolDefaults() PoolConfig {
	return PoolConfig{
		Hasher:        "carbon_ch",
		Replication:   1,
		DrainOnRemove: config.Duration{Duration: 5 * time.Second},
		ApplyChanges:  "immediate",
		PoolConfig:    discovery.DefaultPoolConfig(),
		Config:        backend.DefaultConfig(),
	}
}

func listenerDefaults() ListenerConfig {
	return ListenerConfig{
		FormatConfig: line.FormatConfig{Format: "graphite"},
		MaxLine:      16 << 10,
		ReadBuffer:   16 << 20,
		Readers:      min(runtime.NumCPU(), 4),
		IdleTimeout:  &config.Duration{Duration: 10 * time.Minute},
	}
}

// LoadConfig decodes a TOML file strictly (unknown keys are errors naming the
// key and its line), fills defaults and validates. Errors name the key and
// its line.
func LoadConfig(data []byte) (Config, error) {
	cfg := Config{
		Admin:           AdminConfig{Listen: "127.0.0.1:6061"},
		ShutdownTimeout: config.Duration{Duration: 10 * time.Second},
		ZooKeeper:       discovery.DefaultZooKeeperConfig(),
		GraphiteAPI:     graphiteapi.DefaultConfig(),
	}
	// Pool sections are decoded into entries that already hold the
	// defaults, so a key set to its zero value (debounce = "0s") keeps it.
	var shape struct {
		Pools       map[string]map[string]any `toml:"pools"`
		Aggregators map[string]map[string]any `toml:"aggregators"`
		Sinks       map[string]map[string]any `toml:"sinks"`
	}
	if toml.Unmarshal(data, &shape) == nil && len(shape.Sinks) > 0 {
		cfg.Sinks = make(map[string]SinkConfig, len(shape.Sinks))
		for name := range shape.Sinks {
			cfg.Sinks[name] = sinkDefaults()
		}
	}
	if len(shape.Aggregators) > 0 {
		cfg.Aggregators = make(map[string]AggregatorConfig, len(shape.Aggregators))
		for name := range shape.Aggregators {
			cfg.Aggregators[name] = aggregatorDefaults()
		}
	}
	if len(shape.Pools) > 0 {
		cfg.Pools = make(map[string]PoolConfig, len(shape.Pools))
		for name := range shape.Pools {
			cfg.Pools[name] = poolDefaults()
		}
	}
	if err := config.DecodeStrict(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("failed to decode config: %w", err)
	}
	cfg.fillDefaults()
	if err := cfg.validate(data); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) fillDefaults() {
	if c.MaxConnections == 0 {
		c.MaxConnections = defaultMaxConnections
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = config.ByteSize(backend.DefaultMaxQueueBytes())
	}
	config.FillZero(&c.GraphiteAPI, graphiteapi.DefaultConfig())
	for i := range c.Listeners {
		config.FillZero(&c.Listeners[i], listenerDefaults())
		if c.Listeners[i].Name == "" {
			c.Listeners[i].Name = fmt.Sprintf("listener%d", i)
		}
	}
}

// Validate checks a configuration built in code (LoadConfig already did).
func (c Config) Validate() error {
	cfg := c
	cfg.fillDefaults()
	return cfg.validate(nil)
}

// validate collects every problem; src (the TOML text, may be nil) is used to
// name the line of each bad key.
func (c Config) validate(src []byte) error {
	var errs []string
	bad := func(path []string, format string, args ...any) {
		msg := fmt.Sprintf("%s: %s", strings.Join(path, "."), fmt.Sprintf(format, args...))
		if l := config.LineOf(src, path...); src != nil && l > 0 {
			msg = fmt.Sprintf("line %d: %s", l, msg)
		}
		errs = append(errs, msg)
	}
	if err := c.ZooKeeper.Validate(); err != nil {
		bad([]string{"zookeeper"}, "%v", err)
	}
	c.Admin.validate(bad)
	if len(c.Pools) == 0 && len(c.Aggregators) == 0 {
		// An aggregator that stores into sinks needs no pool.
		bad([]string{"pools"}, "no pools (or aggregators) defined")
	}
	if c.MaxConnections < 0 {
		bad([]string{"max_connections"}, "%d must not be negative", c.MaxConnections)
	}
	if c.MaxQueueBytes < 0 || (c.MaxQueueBytes > 0 && c.MaxQueueBytes < minQueueBytes) {
		bad([]string{"max_queue_bytes"}, "%s is below %s", c.MaxQueueBytes, config.ByteSize(minQueueBytes))
	}
	names := map[string]bool{}
	addrs := map[string]string{} // listen key -> listener name
	for i, l := range c.Listeners {
		at := func(key string) []string { return []string{"listeners", fmt.Sprint(i), key} }
		if names[l.Name] {
			bad(at("name"), "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
		if key, err := listenKey(l); err != nil {
			bad(at("listen"), "%v", err)
		} else if other, dup := addrs[key]; dup {
			bad(at("listen"), "%q is also listener %q's address", l.Listen, other)
		} else {
			addrs[key] = l.Name
		}
		switch {
		case l.Pool != "" && l.Aggregator != "":
			bad(at("pool"), "a listener feeds a pool or an aggregator, not both")
		case l.Aggregator != "":
			if _, ok := c.Aggregators[l.Aggregator]; !ok {
				bad(at("aggregator"), "unknown aggregator %q", l.Aggregator)
			}
		default:
			if _, ok := c.Pools[l.Pool]; !ok {
				bad(at("pool"), "unknown pool %q", l.Pool)
			}
		}
		if _, err := line.NewFormat(l.FormatConfig); err != nil {
			bad(at("format"), "%v", err)
		}
		if l.Readers < 1 || l.Readers > 64 {
			bad(at("readers"), "%d is outside 1..64", l.Readers)
		}
		if l.MaxLine < 64 || l.MaxLine > maxLineLimit {
			bad(at("max_line"), "%s is outside 64..%s", l.MaxLine, config.ByteSize(maxLineLimit))
		}
		if l.IdleTimeout != nil && l.IdleTimeout.Duration < 0 {
			bad(at("idle_timeout"), "%s must not be negative", l.IdleTimeout.Duration)
		}
	}
	for i, r := range c.Rules {
		at := func(key string) []string { return []string{"rules", fmt.Sprint(i), key} }
		if !names[r.Listener] {
			bad(at("listener"), "unknown listener %q", r.Listener)
		}
		if _, err := regexp.Compile(r.Match); err != nil {
			bad(at("match"), "bad regexp %q: %v", r.Match, err)
		}
		targets := 0
		for _, set := range []bool{r.Reject, r.Pool != "", r.Aggregator != ""} {
			if set {
				targets++
			}
		}
		switch {
		case targets > 1:
			bad(at("pool"), "a rule either rejects or names a pool or an aggregator, only one of them")
		case targets == 0:
			bad(at("pool"), "a rule needs pool = \"NAME\", aggregator = \"NAME\" or reject = true")
		case r.Pool != "":
			if _, ok := c.Pools[r.Pool]; !ok {
				bad(at("pool"), "unknown pool %q", r.Pool)
			}
		case r.Aggregator != "":
			if _, ok := c.Aggregators[r.Aggregator]; !ok {
				bad(at("aggregator"), "unknown aggregator %q", r.Aggregator)
			}
		}
	}
	pools := make([]string, 0, len(c.Pools))
	for name := range c.Pools {
		pools = append(pools, name)
	}
	sort.Strings(pools)
	for _, name := range pools {
		p := c.Pools[name]
		at := func(key string) []string {
			if key == "" {
				return []string{"pools", name}
			}
			return []string{"pools", name, key}
		}
		if strings.ContainsAny(name, "/ ") || name == "" || slices.Contains(reservedPoolNames, name) {
			bad([]string{"pools", name}, "pool name %q is reserved or contains '/' or a space", name)
		}
		servers, err := p.staticServers()
		if err != nil {
			bad(at("servers"), "%v", err)
		}
		// With a bad server the list is refused whole: "no servers" would
		// only repeat that.
		if err == nil && len(servers) == 0 && p.Serverset == "" {
			bad(at("servers"), "pool has neither servers nor a serverset")
		}
		if p.Serverset != "" && len(c.ZooKeeper.Servers) == 0 {
			bad(at("serverset"), "needs [zookeeper] servers")
		}
		if _, err := p.applyAlign(); err != nil {
			bad(at("apply_changes"), "%v", err)
		}
		if p.QueueBytes < minQueueBytes {
			bad(at("queue_bytes"), "%s is below %s (four batches of %s)", p.QueueBytes, config.ByteSize(minQueueBytes), config.ByteSize(batchFlushBytes))
		}
		for _, err := range []error{p.PoolConfig.Validate(), p.Config.Validate()} {
			if err == nil {
				continue
			}
			// Joined errors: one line each, pointed at the key it names.
			for _, msg := range strings.Split(err.Error(), "\n") {
				bad(at(keyNamed(msg, poolKeys)), "%s", msg)
			}
		}
		var ringErr error
		if len(servers) > 0 {
			_, ringErr = hashring.New(p.ringConfig(false), ringMembers(servers))
		} else {
			ringErr = p.ringConfig(false).Validate(-1)
		}
		if ringErr != nil {
			bad(at(ringErrorKey(ringErr)), "%v", ringErr)
		}
	}
	// The keys each aggregator section sets (decoded strictly already), so
	// that a key of the other kind is refused rather than ignored.
	var aggKeys struct {
		Aggregators map[string]map[string]any `toml:"aggregators"`
		Sinks       map[string]map[string]any `toml:"sinks"`
	}
	if src != nil {
		_ = toml.Unmarshal(src, &aggKeys)
	}
	if err := c.validateGraphiteAPI(); err != nil {
		key, _, _ := strings.Cut(strings.TrimPrefix(err.Error(), "graphiteapi."), " ")
		bad([]string{"graphiteapi", key}, "%s", strings.TrimPrefix(err.Error(), "graphiteapi."))
	}
	for _, name := range sortedKeys(c.Sinks) {
		for _, err := range c.Sinks[name].validate(aggKeys.Sinks[name]) {
			msg := err.Error()
			key, _, _ := strings.Cut(msg, " ")
			key, _, _ = strings.Cut(strings.TrimSuffix(key, ":"), "[")
			bad([]string{"sinks", name, key}, "%s", msg)
		}
	}
	for _, name := range sortedKeys(c.Aggregators) {
		a := c.Aggregators[name]
		errs := append(a.validate(c.Pools), a.keysOfOtherKind(aggKeys.Aggregators[name])...)
		for _, err := range append(errs, a.sinkFeedErrors(c.Sinks)...) {
			msg := err.Error()
			key, _, _ := strings.Cut(msg, " ")
			key, _, _ = strings.Cut(strings.TrimSuffix(key, ":"), "[") // times[1] -> times
			bad([]string{"aggregators", name, key}, "%s", msg)
		}
		c.aggregatorFeedErrors(name, bad)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// poolKeys are the TOML keys of a pool section, longest first so that
// keyNamed prefers "udp_max_datagram" over a shorter key inside it.
var poolKeys = tomlKeys(PoolConfig{})

// tomlKeys lists the toml tags of a struct's fields, descending into
// embedded structs, longest first.
func tomlKeys(v any) []string {
	var keys []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag != "" && tag != "-" {
				keys = append(keys, tag)
			}
		}
	}
	walk(reflect.TypeOf(v))
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	return keys
}

// keyNamed returns the key that msg mentions first (as a whole word), or ""
// (the section itself) when it names none.
func keyNamed(msg string, keys []string) string {
	best, at := "", len(msg)
	for _, k := range keys {
		for off := 0; ; {
			i := strings.Index(msg[off:], k)
			if i < 0 {
				break
			}
			i += off
			end := i + len(k)
			if (i == 0 || !isKeyByte(msg[i-1])) && (end == len(msg) || !isKeyByte(msg[end])) {
				if i < at {
					best, at = k, i
				}
				break
			}
			off = end
		}
	}
	return best
}

func isKeyByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// ringErrorKey names the pool key a hashring error is about, so the error
// can point at its line.
func ringErrorKey(err error) string {
	msg := err.Error()
	for _, key := range []string{"compat", "replication", "diverse_replicas", "partitions", "hasher"} {
		if strings.Contains(msg, "validate "+key) {
			return key
		}
	}
	if strings.Contains(msg, "member") || strings.Contains(msg, "instance") {
		return "servers"
	}
	return "hasher"
}

// defaultMaxConnections: each idle connection costs about 100 KiB (its
// 64 KiB reader, scratch, goroutine), so 10,000 of them about 1 GiB.
const defaultMaxConnections = 10000

// maxLineLimit bounds max_line: each connection holds a read buffer and
// scratch space of a few times max_line.
const maxLineLimit = 1 << 20

// minQueueBytes keeps a backend queue several dispatcher batches deep:
// batches are taken or dropped whole, so a smaller queue would drop batches
// while empty.
const minQueueBytes = 4 * batchFlushBytes

// reservedPoolNames would shadow admin endpoints.
var reservedPoolNames = []string{"debug", "metrics", "stats", "ops", "hashcheck", "pools"}

// applyAlign parses apply_changes: 0 for immediate, else the alignment.
func (p PoolConfig) applyAlign() (time.Duration, error) {
	switch v := p.ApplyChanges; {
	case v == "" || v == "immediate":
		return 0, nil
	case strings.HasPrefix(v, "aligned:"):
		d, err := time.ParseDuration(strings.TrimPrefix(v, "aligned:"))
		if err != nil || d < time.Second || d%time.Second != 0 {
			return 0, fmt.Errorf("%q: the alignment must be a whole number of seconds, at least 1s (aligned:10s)", v)
		}
		return d, nil
	}
	return 0, fmt.Errorf("%q: want \"immediate\" or \"aligned:DURATION\" (aligned:10s)", p.ApplyChanges)
}

func (p PoolConfig) ringConfig(clamp bool) hashring.Config {
	return hashring.Config{
		Hasher:          p.Hasher,
		Compat:          p.Compat,
		Replication:     p.Replication,
		DiverseReplicas: p.DiverseReplicas,
		Partitions:      p.Partitions,
		Clamp:           clamp,
	}
}

// virtualShards reports whether the pool's member list is a statsrelay
// shard map (hasher murmur3_shard): entry i is shard i, and a backend may
// own several shards, listed (or registered) once per shard, while it keeps
// one connection and one queue.
func (p PoolConfig) virtualShards() bool { return p.Hasher == hashring.Murmur3Shard }

// staticServers parses the pool's servers in config order. A repeated server
// is refused, except in a shard map (virtualShards), where repeating a
// backend is how statsrelay gives it more shards.
func (p PoolConfig) staticServers() ([]discovery.Server, error) {
	return parseServers(p.Servers, p.virtualShards())
}

// parseServers parses servers in order; allowRepeats keeps a server listed
// more than once as that many entries.
func parseServers(ss []string, allowRepeats bool) ([]discovery.Server, error) {
	out := make([]discovery.Server, 0, len(ss))
	seen := map[string]bool{}
	for _, s := range ss {
		srv, err := discovery.ParseServer(s)
		if err != nil {
			return nil, err
		}
		if seen[srv.ID()] && !allowRepeats {
			return nil, fmt.Errorf("server %q is listed twice (only hasher %s, a statsrelay shard map, repeats a server: virtual shards)", s, hashring.Murmur3Shard)
		}
		seen[srv.ID()] = true
		out = append(out, srv)
	}
	return out, nil
}

func ringMembers(servers []discovery.Server) []hashring.Member {
	m := make([]hashring.Member, len(servers))
	for i, s := range servers {
		m[i] = hashring.Member{Host: s.Host, Port: s.Port, Instance: s.Instance}
	}
	return m
}

// checkHostPort refuses a listen address that cannot be bound whatever the
// machine: no port, or a port outside 0..65535 (0 picks a free one).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("failed to parse address %q: want host:port: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("failed to parse address %q: port %q is not in 0..65535", addr, port)
	}
	return nil
}

// parseListen splits a listener URL into its scheme and address.
func parseListen(s string) (scheme, addr string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("failed to parse listen %q: %w", s, err)
	}
	switch u.Scheme {
	case "tcp", "udp", "http":
		if u.Host == "" || u.Port() == "" {
			return "", "", fmt.Errorf("listen %q: want %s://host:port", s, u.Scheme)
		}
		if err := checkHostPort(u.Host); err != nil {
			return "", "", fmt.Errorf("listen %q: %w", s, err)
		}
		return u.Scheme, u.Host, nil
	case "unix":
		if u.Path == "" {
			return "", "", fmt.Errorf("listen %q: want unix:///path/to/socket", s)
		}
		return u.Scheme, u.Path, nil
	}
	return "", "", fmt.Errorf("listen %q: unknown scheme (want tcp://, udp://, unix:// or http://)", s)
}
