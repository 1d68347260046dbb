package hashring

// murmur3_shard: statsrelay's shard map (uber/statsrelay hashring.c and
// lyft/statsrelay shard.rs): member = members[murmur3_x86_32(key, seed
// 0xaccd3d34) % len(members)]. The member list is the shard map, in order,
// and may repeat a backend on purpose (virtual shards: rebalancing means
// editing which backend owns an index). Plain modulo, not a ring: changing
// the list length moves most keys. No replication. The key is what the
// statsrelay flavour hashes (uber: the bytes before the first ':' or ' ';
// lyft: before the last ':' preceding the first '|'): the line format cuts
// it. Hash returns the murmur3 value.

// statsrelaySeed is statsrelay's HASHLIB_SEED.
const statsrelaySeed = 0xaccd3d34

// shardRing is a statsrelay shard map.
type shardRing struct {
	n int
}

func newShardRing(members []Member) *shardRing { return &shardRing{n: len(members)} }

func (r *shardRing) Len() int { return r.n }

// Hash returns murmur3_x86_32(key, 0xaccd3d34).
func (r *shardRing) Hash(key []byte) uint64 { return uint64(murmur3x86_32(key, statsrelaySeed)) }

func (r *shardRing) Lookup(key []byte, dst []int) []int {
	return append(dst[:0], int(murmur3x86_32(key, statsrelaySeed)%uint32(r.n)))
}
