package hashring

// mmh3_ch, graphite-carbon (hashing.py carbonHash with ROUTER_HASH_TYPE =
// mmh3_ch, >= 1.1.2): carbon's ConsistentHashRing (see pyRing in
// carbon_ch.go) with ring keys as carbon_ch's, "('HOST', 'INSTANCE'):i", and
// position mmh3.hash(key): MurmurHash3_x86_32 of the UTF-8 bytes, seed 0, as
// a signed int32 (negative positions sort first; the +1 collision bump works
// on those ints). Lookups hash the key the same way.
//
// Only the consistent-hashing router is reproduced; carbon's fast-hashing
// router (FastHashRing, which is not consistent) is not offered.
// Hash returns the unsigned 32-bit murmur value.

// mmh3Pos is the PyPI mmh3 module's hash(key): signed MurmurHash3_x86_32.
func mmh3Pos(key []byte) int64 {
	return int64(int32(murmur3x86_32(key, 0)))
}
