package hashring

import (
	"hash/fnv"
	"testing"
)

func TestVectorsFNV(t *testing.T) {
	// research/relays.md §2.4: carbon-c-relay's fnv1a.h compiled on x86.
	if got := fnv1a32SignExt([]byte("métrique.x")); got != 2747538072 {
		t.Errorf("fnv1a32SignExt(métrique.x) = %d, want 2747538072", got)
	}
	if got := fnv1a32([]byte("métrique.x")); got != 2180294808 {
		t.Errorf("fnv1a32(métrique.x) = %d, want 2180294808", got)
	}
	// buckytools hashing/fnv1a_test.go, jump_test.go.
	for key, want := range map[string]uint32{
		"252113b5-a6c4-4661-8007-a583d6aa7130": 0xbe564b20,
		"0aac2773-f766-478e-867f-ba4cca94e524": 0x15a526a8,
		"6fdcba3a-dc5b-419b-a2bc-b4670b8e85fd": 0xbf5bd512,
	} {
		if got := fnv1a32SignExt([]byte(key)); got != want {
			t.Errorf("fnv1a32(%q) = %#x, want %#x", key, got, want)
		}
	}
	for key, want := range map[string]uint64{
		"foobar":  0x85944171f73967e8,
		"changed": 0xdf38879af614707b,
		"5min.prod.dc06.graphite-web006-g6.kernel.net.netfilter.nf_conntrack_max": 0xdb7b58ef171eee9f,
	} {
		if got := fnv1a64SignExt([]byte(key)); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", key, got, want)
		}
	}
	// The unsigned variants are Go's hash/fnv.
	for _, key := range []string{"", "a", "métrique.x", "\xff\x80\x00", "日本.東京"} {
		h32, h64 := fnv.New32a(), fnv.New64a()
		h32.Write([]byte(key))
		h64.Write([]byte(key))
		if got, want := fnv1a32([]byte(key)), h32.Sum32(); got != want {
			t.Errorf("fnv1a32(%q) = %#x, hash/fnv says %#x", key, got, want)
		}
		if got, want := fnv1a64([]byte(key)), h64.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, hash/fnv says %#x", key, got, want)
		}
	}
}
