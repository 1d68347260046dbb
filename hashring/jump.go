package hashring

import "strings"

// jump_fnv1a_ch, carbon-c-relay (consistent-hash.c):
//  1. Member order: members with an instance first, ordered by carbon-c-relay's
//     comparator (both instances entire base-10 integers as strtol reads them:
//     numeric, as the int-truncated difference of the two longs; else strcmp),
//     sorted by glibc's merge sort; then members without instance in config
//     order. All-digit instances are first normalised as the config parser
//     does (ccrInstance: "007" is 7).
//  2. h = FNV-1a 64 of the key bytes with carbon-c-relay's signed-char quirk
//     (bytes >= 0x80 sign-extended, x86; see fnv.go), n = member count.
//     Repeat: j = jump(h, n); emit list[j]; stop after R; h = xorshift64*(h)
//     (h ^= h>>12; h ^= h<<25; h ^= h>>27; h *= 2685821657736338717);
//     list[j] = list[n-1]; n--.
//  3. jump is Lamping & Veach's jump consistent hash in IEEE doubles.
//
// Removing any member but the last reorders the list and moves most keys;
// that is the peer's behaviour (its man page says so) and the tests pin it.
// Hash returns the primary's bucket (carbon-c-relay's hash_pos).

// jumpRing is carbon-c-relay's jump_fnv1a_ch.
type jumpRing struct {
	order []int32 // bucket -> member index
	repl  int
}

// jumpHash is the Lamping-Veach jump consistent hash, bucket in [0, n).
func jumpHash(key uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// cStrtol reads s as C's strtol(s, &end, 10) and reports whether end would
// point at the terminating NUL. Values saturate at the int64 range.
func cStrtol(s string) (int64, bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var v uint64
	over := false
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if v > (1<<64-1-d)/10 {
			over = true
		} else {
			v = v*10 + d
		}
		i++
	}
	if i == start { // no digits: end = s, complete only for ""
		return 0, s == ""
	}
	var r int64
	switch {
	case !neg && (over || v > 1<<63-1):
		r = 1<<63 - 1
	case neg && (over || v > 1<<63):
		r = -1 << 63
	case neg:
		r = -int64(v)
	default:
		r = int64(v)
	}
	return r, i == len(s)
}

func newJumpRing(members []Member, repl int) *jumpRing {
	n := len(members)
	inst := make([]string, n)
	for i, m := range members {
		inst[i] = ccrInstance(m.Instance)
	}
	cmp := func(a, b int) int {
		ia, ib := inst[a], inst[b]
		switch {
		case ia == "" && ib == "":
			return a - b // config order
		case ia == "":
			return 1
		case ib == "":
			return -1
		}
		if va, ok := cStrtol(ia); ok {
			if vb, ok := cStrtol(ib); ok {
				return int(int32(va - vb)) // (int)(long - long)
			}
		}
		return strings.Compare(ia, ib)
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	glibcMsort(perm, make([]int, n), cmp)
	r := &jumpRing{order: make([]int32, n), repl: repl}
	for i, m := range perm {
		r.order[i] = int32(m)
	}
	return r
}

func (r *jumpRing) Len() int { return len(r.order) }

// Hash returns the key's primary bucket, as carbon-c-relay's test mode
// prints it (hash_pos).
func (r *jumpRing) Hash(key []byte) uint64 {
	return uint64(jumpHash(fnv1a64SignExt(key), len(r.order)))
}

func (r *jumpRing) Lookup(key []byte, dst []int) []int {
	dst = dst[:0]
	h := fnv1a64SignExt(key)
	n := len(r.order)
	// picked[k] is the bucket chosen at step k; carbon-c-relay then moves
	// the last live bucket (n-1-k) into it. Rather than copy the list we
	// resolve a bucket back through those moves, newest first.
	var picked [maxCRelayReplication]int32
	for k := 0; ; k++ {
		j := jumpHash(h, n-k)
		b := j
		for m := k - 1; m >= 0; m-- {
			if b == int(picked[m]) {
				b = n - 1 - m
			}
		}
		dst = append(dst, int(r.order[b]))
		if len(dst) >= r.repl {
			return dst
		}
		picked[k] = int32(j)
		h ^= h >> 12
		h ^= h << 25
		h ^= h >> 27
		h *= 2685821657736338717
	}
}
