// Package hashring holds pure, immutable consistent-hash rings that place a
// key on the same backend(s) as the relays our users migrate from
// (carbon-c-relay, graphite-carbon, statsd's proxy.js, statsrelay, libring).
//
// A Ring is built once from an ordered member list and never changes; a pool
// builds a new Ring when its membership changes and swaps it in atomically.
// Lookups take no lock and allocate nothing. Rings know member identities
// (host, port, instance) only: never connections. What part of a line is the
// key (statsd name before ':', carbon-c-relay's sanitised name before ';',
// ...) is the line format's business, not the ring's; the exceptions are
// documented on the hasher (statsd cuts at ':').
//
// Hashers and the peers they reproduce (Config.Hasher / Config.Compat):
//
//	carbon_ch      carbon-c-relay (default)  carbon-c-relay 3.x carbon_ch (carbon 0.9 semantics, carbon-relay-ng v1)
//	carbon_ch      carbon                    graphite-carbon >= 1.0 relay: +1 collision bump in config order, DIVERSE_REPLICAS
//	fnv1a_ch       carbon-c-relay (default)  carbon-c-relay fnv1a_ch (signed-char FNV, see fnv.go)
//	fnv1a_ch       carbon                    carbon >= 1.1.2 fnv1a_ch (instance-only ring keys; instances required)
//	jump_fnv1a_ch  carbon-c-relay            carbon-c-relay jump_fnv1a_ch, its member order and replica walk
//	mmh3_ch        carbon                    carbon's mmh3_ch ConsistentHashRing
//	statsd         statsd                    statsd proxy.js with npm hashring 3.2.0
//	murmur3_shard  statsrelay                statsrelay shard map: murmur3_x86_32 seed 0xaccd3d34 mod len(members)
//	jump_partition libring (default)         libring: FNV-64a(key) mod partitions, jump over members sorted by name
//	jump_partition libring-fnv32a            the same with FNV-32a, as libring's README describes it
package hashring

import (
	"errors"
	"fmt"
	"slices"
)

// Member is a ring member's identity. The order of the member slice given to
// New is the config order, which some peers' algorithms depend on.
type Member struct {
	Host     string
	Port     int
	Instance string
}

// Config selects the algorithm and its parameters.
type Config struct {
	// Hasher is the algorithm name: carbon_ch, fnv1a_ch, jump_fnv1a_ch,
	// mmh3_ch, statsd, murmur3_shard, jump_partition (see Hashers).
	Hasher string
	// Compat names the peer whose variant to reproduce where peers differ
	// ("carbon-c-relay" or "carbon" for carbon_ch and fnv1a_ch); empty means
	// DefaultCompat(Hasher).
	Compat string
	// Replication is how many distinct members each key goes to (>= 1;
	// 0 means 1).
	Replication int
	// DiverseReplicas (carbon compat only) picks replicas on distinct hosts;
	// nil means the peer's default (on for carbon >= 1.0).
	DiverseReplicas *bool
	// Partitions is jump_partition's fixed partition count (0: libring's
	// default, 512).
	Partitions int
	// Clamp lets New build a ring with fewer members than Replication by
	// lowering the replication to the member count. Config checks leave it
	// off (replication above the member count is refused, as the peers
	// refuse it); a running pool whose members leave (ZooKeeper) sets it so
	// it keeps routing to the members it has.
	Clamp bool
}

// Ring places keys on members. Implementations are immutable and safe for
// concurrent use by any number of goroutines.
type Ring interface {
	// Lookup appends to dst[:0] the indexes (into the member slice the ring
	// was built from) of the members key goes to, primary first, replicas in
	// the order the peer picks them, and returns it. It allocates nothing
	// when cap(dst) >= the replication factor. The key bytes are not retained.
	Lookup(key []byte, dst []int) []int
	// Hash returns the key's hash/position as the algorithm computes it
	// (for /hashcheck and `relay route` diagnostics); each hasher's doc says
	// which number that is.
	Hash(key []byte) uint64
	// Len returns the number of members.
	Len() int
}

// Hasher names.
const (
	CarbonCH      = "carbon_ch"
	FNV1aCH       = "fnv1a_ch"
	JumpFNV1aCH   = "jump_fnv1a_ch"
	MMH3CH        = "mmh3_ch"
	Statsd        = "statsd"
	Murmur3Shard  = "murmur3_shard"
	JumpPartition = "jump_partition"
)

// Compat names.
const (
	CompatCarbonCRelay  = "carbon-c-relay"
	CompatCarbon        = "carbon"
	CompatStatsd        = "statsd"
	CompatStatsrelay    = "statsrelay"
	CompatLibring       = "libring"
	CompatLibringFNV32a = "libring-fnv32a"
)

// DefaultPartitions is jump_partition's partition count when Config.Partitions
// is 0 (libring's DefaultConfig).
const DefaultPartitions = 512

// maxCRelayReplication is carbon-c-relay's limit ("replication" is a char).
const maxCRelayReplication = 255

// compatsOf lists the compat values a hasher accepts, default first (nil:
// unknown hasher).
func compatsOf(hasher string) []string {
	switch hasher {
	case CarbonCH, FNV1aCH:
		return []string{CompatCarbonCRelay, CompatCarbon}
	case JumpFNV1aCH:
		return []string{CompatCarbonCRelay}
	case MMH3CH:
		return []string{CompatCarbon}
	case Statsd:
		return []string{CompatStatsd}
	case Murmur3Shard:
		return []string{CompatStatsrelay}
	case JumpPartition:
		return []string{CompatLibring, CompatLibringFNV32a}
	}
	return nil
}

// ErrNoMembers is returned (wrapped) by New for an empty member list.
var ErrNoMembers = errors.New("no members")

// Hashers returns the hasher names New accepts, sorted.
func Hashers() []string {
	return []string{CarbonCH, FNV1aCH, JumpFNV1aCH, JumpPartition, MMH3CH, Murmur3Shard, Statsd}
}

// Compats returns the compat values hasher accepts, its default first, or
// nil for an unknown hasher.
func Compats(hasher string) []string {
	return compatsOf(hasher)
}

// DefaultCompat returns the compat a hasher uses when Config.Compat is empty
// ("" for an unknown hasher).
func DefaultCompat(hasher string) string {
	c := compatsOf(hasher)
	if len(c) == 0 {
		return ""
	}
	return c[0]
}

// compat returns c.Compat or the hasher's default.
func (c Config) compat() string {
	if c.Compat == "" {
		return DefaultCompat(c.Hasher)
	}
	return c.Compat
}

// replication returns c.Replication, 0 meaning 1.
func (c Config) replication() int {
	if c.Replication == 0 {
		return 1
	}
	return c.Replication
}

// diverse reports whether carbon's DIVERSE_REPLICAS is on.
func (c Config) diverse() bool {
	if c.DiverseReplicas == nil {
		return true
	}
	return *c.DiverseReplicas
}

// Validate checks the config for a ring of nMembers members (nMembers < 0:
// skip the checks that need the count). It refuses what the peer refuses:
// unknown hashers or compat values, replication below 1 or above the member
// count (unless Clamp), replication on peers that have none, and settings
// that do not apply to the chosen hasher.
func (c Config) Validate(nMembers int) error {
	cs := compatsOf(c.Hasher)
	if cs == nil {
		return fmt.Errorf("failed to validate hasher %q: unknown hasher (known: %v)", c.Hasher, Hashers())
	}
	compat := c.compat()
	if !slices.Contains(cs, compat) {
		return fmt.Errorf("failed to validate compat %q: hasher %s supports %v", c.Compat, c.Hasher, cs)
	}
	r := c.replication()
	if r < 1 {
		return fmt.Errorf("failed to validate replication %d: must be at least 1", c.Replication)
	}
	switch {
	case compat == CompatCarbonCRelay && r > maxCRelayReplication:
		return fmt.Errorf("failed to validate replication %d: carbon-c-relay allows at most %d", r, maxCRelayReplication)
	case (c.Hasher == Statsd || c.Hasher == Murmur3Shard) && r != 1:
		return fmt.Errorf("failed to validate replication %d: %s (%s) has no replication", r, c.Hasher, compat)
	}
	if c.DiverseReplicas != nil && compat != CompatCarbon {
		return fmt.Errorf("failed to validate diverse_replicas: only compat %q has it, not %s/%s", CompatCarbon, c.Hasher, compat)
	}
	if c.Partitions != 0 && c.Hasher != JumpPartition {
		return fmt.Errorf("failed to validate partitions %d: only hasher %s has partitions", c.Partitions, JumpPartition)
	}
	if c.Partitions < 0 {
		return fmt.Errorf("failed to validate partitions %d: must be positive", c.Partitions)
	}
	if nMembers == 0 {
		return fmt.Errorf("failed to validate members: %w", ErrNoMembers)
	}
	if nMembers > 0 && r > nMembers && !c.Clamp {
		return fmt.Errorf("failed to validate replication %d: more than the %d member(s)", r, nMembers)
	}
	return nil
}

// New builds the ring cfg selects over members (config order). It validates
// cfg and the members as the peer would: e.g. carbon refuses two members
// with the same (host, instance), carbon's fnv1a_ch needs an instance on
// every member, statsd refuses a repeated host:port. An empty member list
// gives an error wrapping ErrNoMembers. The members slice is not retained.
func New(cfg Config, members []Member) (Ring, error) {
	if err := cfg.Validate(len(members)); err != nil {
		return nil, err
	}
	r := min(cfg.replication(), len(members))
	compat := cfg.compat()
	if err := checkMembers(cfg.Hasher, compat, members); err != nil {
		return nil, err
	}
	switch cfg.Hasher {
	case CarbonCH:
		if compat == CompatCarbon {
			return newPyRing(pyCarbon, members, r, cfg.diverse()), nil
		}
		return newCCRRing(ccrCarbon, members, r), nil
	case FNV1aCH:
		if compat == CompatCarbon {
			return newPyRing(pyFNV1a, members, r, cfg.diverse()), nil
		}
		return newCCRRing(ccrFNV1a, members, r), nil
	case MMH3CH:
		return newPyRing(pyMMH3, members, r, cfg.diverse()), nil
	case JumpFNV1aCH:
		return newJumpRing(members, r), nil
	case Statsd:
		return newStatsdRing(members), nil
	case Murmur3Shard:
		return newShardRing(members), nil
	case JumpPartition:
		p := cfg.Partitions
		if p == 0 {
			p = DefaultPartitions
		}
		return newPartitionRing(members, r, p, compat == CompatLibringFNV32a)
	}
	return nil, fmt.Errorf("failed to build ring %q: unknown hasher", cfg.Hasher)
}

// checkMembers refuses member lists the peer refuses.
func checkMembers(hasher, compat string, members []Member) error {
	type hostInst struct{ host, inst string }
	seen := make(map[any]int, len(members))
	for i, m := range members {
		if m.Host == "" {
			return fmt.Errorf("failed to add member %d %q: empty host", i, m.String())
		}
		var k any = m
		switch {
		case hasher == Murmur3Shard:
			continue // statsrelay shard maps repeat members on purpose
		case compat == CompatCarbon:
			if hasher == FNV1aCH && m.Instance == "" {
				return fmt.Errorf("failed to add member %q: carbon's fnv1a_ch hashes the instance only, so every member needs one", m.String())
			}
			k = hostInst{m.Host, m.Instance}
		case hasher == Statsd:
			k = statsdID(m)
		case hasher == JumpPartition:
			k = partitionName(m)
		}
		if j, dup := seen[k]; dup {
			return fmt.Errorf("failed to add member %q: same identity as member %d %q for %s/%s", m.String(), j, members[j].String(), hasher, compat)
		}
		seen[k] = i
	}
	return nil
}

// String formats m as carbon-c-relay writes a member: host:port[=instance].
func (m Member) String() string {
	s := fmt.Sprintf("%s:%d", m.Host, m.Port)
	if m.Instance != "" {
		s += "=" + m.Instance
	}
	return s
}

// containsInt reports whether dst holds m.
func containsInt(dst []int, m int) bool {
	for _, d := range dst {
		if d == m {
			return true
		}
	}
	return false
}
