package hashring

import (
	"cmp"
	"crypto/md5"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// carbon_ch comes in two flavours, each a general ring shape that fnv1a_ch
// and mmh3_ch share:
//
// ccrRing, carbon-c-relay (consistent-hash.c; also carbon 0.9.x and
// carbon-relay-ng's consistentHashing for members without instance):
//  1. For each member in config order and i = 0..99 a ring key
//     "('HOST', 'INSTANCE'):i" or "('HOST', None):i" (the host string as
//     written, never resolved; the port is not part of it; cut at 255
//     bytes), position md5(key)[0]<<8 | md5(key)[1].
//  2. Entries sorted (glibc qsort) by position, then host (strcmp), then
//     instance (strcmp, no instance after any instance). In every run of
//     equal positions all entries take the run's first member, so the other
//     members of a collision lose that point.
//  3. Lookup: position of the key bytes, first entry >= it (wrapping), walk
//     forward collecting distinct members.
//
// carbon-c-relay parses an all-digit instance as a C int: "007" becomes
// "7", "4294967297" becomes "1" (ccrInstance). Members with the same host
// and instance get identical points: the first in config order takes them
// all and the other gets nothing (carbon-c-relay accepts such a config;
// its replica walk would then spin forever when replication counts the
// starved member, so we cap the walk at the members that own a point).
//
// pyRing, graphite-carbon >= 1.0 (carbon/hashing.py ConsistentHashRing and
// routers.py ConsistentHashingRouter):
//  1. For each member in config (DESTINATIONS) order and i = 0..99, ring key
//     str((host, instance)) + ":" + i (Python's tuple repr, instance None
//     when absent; same string as above for ordinary names); position by
//     the hash type; if the position is taken, +1 until free (no wrap:
//     may exceed 65535).
//  2. Lookup: first entry >= the key's position (wrapping), walk forward
//     over distinct members, never examining the entry just before the
//     start. DIVERSE_REPLICAS (default on) skips members whose host was
//     already chosen and stops after R distinct hosts (so members sharing
//     a host give fewer than R destinations); off takes the first R.
//
// Hash returns the key's ring position (16 bits for md5/fnv1a; for mmh3_ch
// the unsigned 32-bit murmur value, which carbon reads as a signed int32).

const chReplicas = 100

type ccrKind uint8

const (
	ccrCarbon ccrKind = iota // carbon_ch
	ccrFNV1a                 // fnv1a_ch
)

// ccrRing is carbon-c-relay's carbon_ch / fnv1a_ch ring.
type ccrRing struct {
	kind  ccrKind
	pos   []uint16 // sorted
	owner []int32  // member index per entry
	// start[p] is the first entry whose position is >= p (len(pos): none),
	// i.e. the binary search precomputed; nil for rings too big for it.
	start []uint16
	n     int
	repl  int
}

// ccrInstance returns the instance as carbon-c-relay stores it: an
// all-digit instance is read by its config lexer as a number (strtol,
// saturating at the int64 range) and kept as a C int, then printed back.
func ccrInstance(inst string) string {
	if inst == "" {
		return ""
	}
	for i := 0; i < len(inst); i++ {
		if inst[i] < '0' || inst[i] > '9' {
			return inst
		}
	}
	v, err := strconv.ParseInt(inst, 10, 64)
	if err != nil { // out of range: strtol saturates
		v = 1<<63 - 1
	}
	return strconv.FormatInt(int64(int32(v)), 10)
}

// appendCCRCarbonKey appends carbon-c-relay's carbon_ch ring key
// "('HOST', 'INSTANCE'):r" or "('HOST', None):r" (no escaping: the C code
// prints the strings as they are).
func appendCCRCarbonKey(buf []byte, host, inst string, r int) []byte {
	buf = append(buf, "('"...)
	buf = append(buf, host...)
	buf = append(buf, "', "...)
	if inst == "" {
		buf = append(buf, "None"...)
	} else {
		buf = append(append(append(buf, '\''), inst...), '\'')
	}
	buf = append(buf, "):"...)
	return strconv.AppendInt(buf, int64(r), 10)
}

// ccrKeyMax is the ring key length carbon-c-relay keeps (snprintf into 256).
const ccrKeyMax = 255

func newCCRRing(kind ccrKind, members []Member, repl int) *ccrRing {
	n := len(members)
	inst := make([]string, n)
	for i, m := range members {
		inst[i] = ccrInstance(m.Instance)
	}
	cnt := n * chReplicas
	pos := make([]uint16, cnt)
	own := make([]int32, cnt)
	buf := make([]byte, 0, 512)
	for i, m := range members {
		for r := 0; r < chReplicas; r++ {
			if kind == ccrFNV1a {
				buf = appendCCRFNV1aKey(buf[:0], m.Host, m.Port, inst[i], r)
			} else {
				buf = appendCCRCarbonKey(buf[:0], m.Host, inst[i], r)
			}
			if len(buf) > ccrKeyMax {
				buf = buf[:ccrKeyMax]
			}
			e := i*chReplicas + r
			pos[e] = ccrPos(kind, buf)
			own[e] = int32(i)
		}
	}
	// carbon-c-relay qsorts the entries by (position, host, instance or
	// port); glibc's qsort is a stable merge sort here, so equal entries keep
	// build order. The same order, faster: rank the members by (host,
	// instance/port) once, then sort packed (position, rank, entry) keys.
	rank := ccrMemberRanks(kind, members, inst)
	keys := make([]uint64, cnt)
	for e := range keys {
		keys[e] = uint64(pos[e])<<48 | uint64(rank[own[e]])<<27 | uint64(e)
	}
	slices.Sort(keys)
	ring := &ccrRing{kind: kind, pos: make([]uint16, cnt), owner: make([]int32, cnt), n: n}
	for i, k := range keys {
		e := k & (1<<27 - 1)
		ring.pos[i] = pos[e]
		ring.owner[i] = own[e]
	}
	// A run of equal positions belongs to its first entry's member.
	for i := 0; i+1 < cnt; i++ {
		if ring.pos[i] == ring.pos[i+1] {
			ring.owner[i+1] = ring.owner[i]
		}
	}
	ring.repl = min(repl, distinctOwners(ring.owner, n))
	ring.buildStart()
	return ring
}

// buildStart fills the position -> first-entry table that replaces the
// binary search of Lookup. Positions are 16 bits, so the table has 65536
// entries; it is kept only while entry indexes fit 16 bits (rings of up to
// 655 members), beyond which Lookup searches.
func (r *ccrRing) buildStart() {
	if len(r.pos) >= 1<<16 {
		return
	}
	r.start = make([]uint16, 1<<16)
	e := 0
	for p := 0; p < 1<<16; p++ {
		for e < len(r.pos) && int(r.pos[e]) < p {
			e++
		}
		r.start[p] = uint16(e) // len(r.pos) means wrap to 0
	}
}

// ccrMemberRanks ranks members by carbon-c-relay's tie-break after the
// position: host (strcmp), then for carbon_ch the instance (strcmp, no
// instance after any instance), for fnv1a_ch the port. Members that compare
// equal share a rank.
func ccrMemberRanks(kind ccrKind, members []Member, inst []string) []int32 {
	cmp := func(a, b int) int {
		ma, mb := &members[a], &members[b]
		if d := strings.Compare(ma.Host, mb.Host); d != 0 {
			return d
		}
		if kind == ccrFNV1a {
			return ma.Port - mb.Port
		}
		ia, ib := inst[a], inst[b]
		switch {
		case ia == "" && ib == "":
			return 0
		case ia == "":
			return 1
		case ib == "":
			return -1
		}
		return strings.Compare(ia, ib)
	}
	perm := make([]int, len(members))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, cmp)
	rank := make([]int32, len(members))
	for i, m := range perm {
		if i > 0 && cmp(perm[i-1], m) == 0 {
			rank[m] = rank[perm[i-1]]
		} else {
			rank[m] = int32(i)
		}
	}
	return rank
}

// distinctOwners counts the members that own at least one entry.
func distinctOwners(owner []int32, n int) int {
	seen := make([]bool, n)
	c := 0
	for _, o := range owner {
		if !seen[o] {
			seen[o] = true
			c++
		}
	}
	return c
}

func ccrPos(kind ccrKind, key []byte) uint16 {
	if kind == ccrFNV1a {
		return fold16(fnv1a32SignExt(key))
	}
	return md5Pos16(key)
}

// md5Pos16 is int(md5hex(key)[:4], 16): the first two MD5 bytes, big-endian.
func md5Pos16(key []byte) uint16 {
	d := md5.Sum(key)
	return uint16(d[0])<<8 | uint16(d[1])
}

func (r *ccrRing) Len() int { return r.n }

// Hash returns the key's 16-bit ring position (carbon-c-relay's hash_pos).
func (r *ccrRing) Hash(key []byte) uint64 { return uint64(ccrPos(r.kind, key)) }

func (r *ccrRing) Lookup(key []byte, dst []int) []int {
	dst = dst[:0]
	p := ccrPos(r.kind, key)
	var t int
	if r.start != nil {
		t = int(r.start[p])
	} else {
		lo, hi := 0, len(r.pos)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if r.pos[m] < p {
				lo = m + 1
			} else {
				hi = m
			}
		}
		t = lo
	}
	for len(dst) < r.repl {
		if t >= len(r.pos) {
			t = 0
		}
		if o := int(r.owner[t]); !containsInt(dst, o) {
			dst = append(dst, o)
		}
		t++
	}
	return dst
}

type pyKind uint8

const (
	pyCarbon pyKind = iota // carbon_ch
	pyFNV1a                // fnv1a_ch (>= 1.1.2)
	pyMMH3                 // mmh3_ch
)

// pyRing is graphite-carbon's ConsistentHashRing behind its
// ConsistentHashingRouter.
type pyRing struct {
	kind    pyKind
	pos     []int64 // sorted, distinct
	owner   []int32
	host    []int32 // host id per member, for DIVERSE_REPLICAS
	n       int
	repl    int
	diverse bool
}

func newPyRing(kind pyKind, members []Member, repl int, diverse bool) *pyRing {
	n := len(members)
	cnt := n * chReplicas
	type entry struct {
		pos   int64
		owner int32
	}
	entries := make([]entry, 0, cnt)
	free := newFreePositions(kind, cnt)
	buf := make([]byte, 0, 256)
	for i, m := range members {
		var node []byte
		if kind != pyFNV1a {
			node = pyTupleRepr(nil, m.Host, m.Instance)
		}
		for r := 0; r < chReplicas; r++ {
			if kind == pyFNV1a {
				buf = appendPyFNV1aKey(buf[:0], m.Instance, r)
			} else {
				buf = append(append(append(buf[:0], node...), ':'), strconv.Itoa(r)...)
			}
			entries = append(entries, entry{free.take(pyPos(kind, buf)), int32(i)})
		}
	}
	// Positions are distinct after the bumps.
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
	ring := &pyRing{kind: kind, pos: make([]int64, cnt), owner: make([]int32, cnt), host: make([]int32, n), n: n, repl: repl, diverse: diverse}
	for i, e := range entries {
		ring.pos[i] = e.pos
		ring.owner[i] = e.owner
	}
	hosts := make(map[string]int32, n)
	for i, m := range members {
		id, ok := hosts[m.Host]
		if !ok {
			id = int32(len(hosts))
			hosts[m.Host] = id
		}
		ring.host[i] = id
	}
	return ring
}

// freePositions hands out ring positions the way carbon's add_node does:
// the first free position >= the one asked for (+1 until free), in
// near-constant time: each taken position links towards the next candidate,
// with path compression (a 1,000-member ring has 100,000 points in a
// 65,536-position space, so the +1 chains get long). 16-bit hashes use a
// dense table (positions stay below 65536 + points), mmh3's 32-bit ones a
// map.
type freePositions struct {
	dense  []int64 // dense[p] = 0: free; else next candidate + 1
	sparse map[int64]int64
}

func newFreePositions(kind pyKind, points int) *freePositions {
	if kind == pyMMH3 {
		return &freePositions{sparse: make(map[int64]int64, points)}
	}
	return &freePositions{dense: make([]int64, 1<<16+points+1)}
}

func (f *freePositions) link(p int64) (int64, bool) {
	if f.dense != nil {
		v := f.dense[p]
		return v - 1, v != 0
	}
	v, ok := f.sparse[p]
	return v, ok
}

func (f *freePositions) set(p, next int64) {
	if f.dense != nil {
		f.dense[p] = next + 1
	} else {
		f.sparse[p] = next
	}
}

func (f *freePositions) take(p int64) int64 {
	q := p
	for {
		nx, ok := f.link(q)
		if !ok {
			break
		}
		q = nx
	}
	// q is free; everything on the path now continues after q.
	for p != q {
		nx, _ := f.link(p)
		f.set(p, q+1)
		p = nx
	}
	f.set(q, q+1)
	return q
}

// pyPos is carbon.hashing.carbonHash(key, hash_type).
func pyPos(kind pyKind, key []byte) int64 {
	switch kind {
	case pyFNV1a:
		return int64(fold16(fnv1a32(key)))
	case pyMMH3:
		return mmh3Pos(key)
	}
	return int64(md5Pos16(key))
}

func (r *pyRing) Len() int { return r.n }

// Hash returns the key's ring position; mmh3_ch's as unsigned 32 bits.
func (r *pyRing) Hash(key []byte) uint64 {
	if r.kind == pyMMH3 {
		return uint64(murmur3x86_32(key, 0))
	}
	return uint64(pyPos(r.kind, key))
}

func (r *pyRing) Lookup(key []byte, dst []int) []int {
	dst = dst[:0]
	if r.n == 1 { // get_nodes yields the only node straight away
		return append(dst, 0)
	}
	p := pyPos(r.kind, key)
	lo, hi := 0, len(r.pos)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.pos[m] < p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	t := lo
	if t == len(r.pos) {
		t = 0
	}
	// get_nodes stops before revisiting the entry just before the start.
	for steps := len(r.pos) - 1; steps > 0 && len(dst) < r.repl; steps-- {
		o := int(r.owner[t])
		if !containsInt(dst, o) && (!r.diverse || !r.hostUsed(dst, o)) {
			dst = append(dst, o)
		}
		t++
		if t == len(r.pos) {
			t = 0
		}
	}
	return dst
}

func (r *pyRing) hostUsed(dst []int, o int) bool {
	h := r.host[o]
	for _, d := range dst {
		if r.host[d] == h {
			return true
		}
	}
	return false
}

// pyTupleRepr appends Python 3's str((host, instance)), instance None when
// empty: ('127.0.0.1', 'a') or ('127.0.0.1', None).
func pyTupleRepr(dst []byte, host, inst string) []byte {
	dst = append(dst, '(')
	dst = pyStrRepr(dst, host)
	dst = append(dst, ", "...)
	if inst == "" {
		dst = append(dst, "None"...)
	} else {
		dst = pyStrRepr(dst, inst)
	}
	return append(dst, ')')
}

// pyStrRepr appends Python 3's repr(s): single quotes unless s holds a
// single quote and no double quote; backslash, the quote, \t \n \r and
// non-printable characters escaped; printable non-ASCII kept (printability
// per Go's unicode.IsPrint, which matches Python's str.isprintable for all
// but rare code points).
func pyStrRepr(dst []byte, s string) []byte {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	dst = append(dst, q)
	for _, c := range s {
		switch {
		case c == rune(q) || c == '\\':
			dst = append(dst, '\\', byte(c))
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, `\x`...)
			dst = appendHex(dst, uint32(c), 2)
		case c < 0x80 || unicode.IsPrint(c):
			dst = utf8.AppendRune(dst, c)
		case c <= 0xff:
			dst = append(dst, `\x`...)
			dst = appendHex(dst, uint32(c), 2)
		case c <= 0xffff:
			dst = append(dst, `\u`...)
			dst = appendHex(dst, uint32(c), 4)
		default:
			dst = append(dst, `\U`...)
			dst = appendHex(dst, uint32(c), 8)
		}
	}
	return append(dst, q)
}

func appendHex(dst []byte, v uint32, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		dst = append(dst, hex[(v>>(4*uint(i)))&0xf])
	}
	return dst
}
