package hashring

import (
	"strings"
	"testing"
)

// libring: removing the member whose name sorts last is consistent (the

// partitions' jump buckets keep their order); others shift the list.

func TestJumpPartitionRemove(t *testing.T) {
	keys := propKeys(t, 3000)
	for _, compat := range Compats(JumpPartition) {
		cfg := Config{Hasher: JumpPartition, Compat: compat}
		members := propMembers(8, true) // names i00..i07 in config order
		if lost, extra, _ := moves(t, cfg, members, 7, keys); lost == 0 || extra != 0 {
			t.Errorf("%s remove last name: lost %d, %d other keys moved; want only its keys", compat, lost, extra)
		}
		if _, extra, _ := moves(t, cfg, members, 3, keys); extra == 0 {
			t.Errorf("%s remove a middle name: no other key moved; libring shifts the sorted list", compat)
		}
	}
}

// libring sorts members by name (instance, else host:port) and walks the
// sorted list from the partition's jump bucket.
func TestJumpPartitionOrderAndWalk(t *testing.T) {
	members := hostsMembers("10.0.0.3:2003", "10.0.0.1:2003=zeta", "10.0.0.2:2004", "[::1]:2003=alpha")
	members[3].Host = "::1"
	r := mustNew(t, Config{Hasher: JumpPartition, Replication: 4}, members).(*partitionRing)
	var names []string
	for _, m := range r.order {
		names = append(names, partitionName(members[m]))
	}
	if got, want := strings.Join(names, ","), "10.0.0.2:2004,10.0.0.3:2003,alpha,zeta"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	for _, key := range []string{"a", "foo.bar", "x"} {
		p := fnv1a64([]byte(key)) % DefaultPartitions
		if got := r.Hash([]byte(key)); got != p {
			t.Errorf("Hash(%q) = %d, want partition %d", key, got, p)
		}
		rot := jumpHash(p, len(members))
		got := r.Lookup([]byte(key), nil)
		for k, m := range got {
			if want := int(r.order[(rot+k)%len(members)]); m != want {
				t.Errorf("Lookup(%q)[%d] = %d, want %d (walk from bucket %d)", key, k, m, want, rot)
			}
		}
	}
	r32 := mustNew(t, Config{Hasher: JumpPartition, Compat: CompatLibringFNV32a, Partitions: 7}, members)
	if got, want := r32.Hash([]byte("foo.bar")), uint64(fnv1a32([]byte("foo.bar"))%7); got != want {
		t.Errorf("fnv32a Hash = %d, want %d", got, want)
	}
}
