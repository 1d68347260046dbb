// Package hashring holds pure, immutable consistent-hash rings that place a
// key on the same backend(s) as the relays our users migrate from
// (carbon-c-relay, graphite-carbon, statsd's proxy.js, statsrelay, ...).
//
// A Ring is built once from an ordered member list and never changes; a pool
// builds a new Ring when its membership changes and swaps it in atomically.
// Lookups take no lock and allocate nothing. Rings know member identities
// (host, port, instance) only: never connections.
package hashring

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
	// mmh3_ch, statsd, murmur3_shard, jump_partition.
	Hasher string
	// Compat names the peer whose variant to reproduce where peers differ:
	// "carbon-c-relay" (default) or "carbon".
	Compat string
	// Replication is how many distinct members each key goes to (>= 1).
	Replication int
	// DiverseReplicas (carbon compat only) picks replicas on distinct hosts;
	// nil means the peer's default (on for carbon >= 1.0).
	DiverseReplicas *bool
	// Partitions is jump_partition's fixed partition count (0: default).
	Partitions int
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
	// (for /hashcheck and `relay route` diagnostics).
	Hash(key []byte) uint64
	// Len returns the number of members.
	Len() int
}
