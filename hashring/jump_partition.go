package hashring

import (
	"fmt"
	"net"
	"slices"
	"strconv"
)

// jump_partition: libring (github.com/kerinin/libring ring.go), the
// "Strategy 3" of the Dynamo paper's appendix: a fixed number of partitions,
// each assigned to members by Lamping-Veach jump hash.
//  1. Members are sorted by name (bytewise, Go's sort.Strings); a member's
//     name is its Instance, or host:port (net.JoinHostPort) without one.
//  2. partition = FNV-1a(key) mod partitions: FNV-64a in libring's code
//     (compat "libring", the default); FNV-32a as libring's README describes
//     it (compat "libring-fnv32a").
//  3. rotation = jump(partition, n); replica k (0..R-1) is
//     sorted[(rotation + k) mod n], walking the sorted list.
//
// Partitions cap the members that get any keys: with fewer partitions than
// members, some members own none (libring says the partition count should
// be an order of magnitude above the member count). Hash returns the
// partition.

// partitionRing is libring's partition ring.
type partitionRing struct {
	order      []int32 // sorted by name -> member index
	partitions uint64
	fnv32      bool
	repl       int
}

// partitionName is a member's name for libring's sort.
func partitionName(m Member) string {
	if m.Instance != "" {
		return m.Instance
	}
	return net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
}

func newPartitionRing(members []Member, repl, partitions int, fnv32 bool) (*partitionRing, error) {
	if partitions <= 0 {
		return nil, fmt.Errorf("failed to build ring %q: partitions %d must be positive", JumpPartition, partitions)
	}
	names := make([]string, len(members))
	perm := make([]int32, len(members))
	for i, m := range members {
		names[i] = partitionName(m)
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int {
		switch {
		case names[a] < names[b]:
			return -1
		case names[a] > names[b]:
			return 1
		}
		return 0
	})
	return &partitionRing{order: perm, partitions: uint64(partitions), fnv32: fnv32, repl: repl}, nil
}

func (r *partitionRing) Len() int { return len(r.order) }

// Hash returns the key's partition.
func (r *partitionRing) Hash(key []byte) uint64 { return r.partition(key) }

func (r *partitionRing) partition(key []byte) uint64 {
	if r.fnv32 {
		return uint64(fnv1a32(key)) % r.partitions
	}
	return fnv1a64(key) % r.partitions
}

func (r *partitionRing) Lookup(key []byte, dst []int) []int {
	dst = dst[:0]
	n := len(r.order)
	rot := jumpHash(r.partition(key), n)
	for k := 0; k < r.repl; k++ {
		dst = append(dst, int(r.order[(rot+k)%n]))
	}
	return dst
}
