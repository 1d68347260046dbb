package hashring

import "testing"

// carbon's mmh3_ch ring: positions are signed, so a key whose murmur value
// has the top bit set sorts before all positive positions; the unsigned
// Hash still reports the raw murmur value.
func TestMMH3SignedPositions(t *testing.T) {
	r := mustNew(t, Config{Hasher: MMH3CH}, hostsMembers("10.0.0.1", "10.0.0.2", "10.0.0.3")).(*pyRing)
	if r.pos[0] >= 0 || r.pos[len(r.pos)-1] <= 0 {
		t.Fatalf("ring positions run %d..%d, want negative and positive", r.pos[0], r.pos[len(r.pos)-1])
	}
	for i := 1; i < len(r.pos); i++ {
		if r.pos[i] <= r.pos[i-1] {
			t.Fatalf("positions not strictly increasing at %d: %d, %d", i, r.pos[i-1], r.pos[i])
		}
	}
	if got, want := r.Hash([]byte("foo")), uint64(1<<32-156908512); got != want {
		t.Errorf("Hash(foo) = %d, want %d (mmh3.hash(foo) = -156908512 as unsigned)", got, want)
	}
}
