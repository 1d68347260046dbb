package hashring

import (
	"crypto/md5"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// statsd: statsd's cluster proxy (proxy.js, statsd 0.9.0) with the npm
// package hashring 3.2.0 configured as proxy.js does (weight 100 per node,
// md5, "vnode count" 40, replicas 0 forced to 1):
//  1. Node ids host + ":" + port, in config order.
//  2. Points per node L = floor((100 / (100*n)) * 40 * n), evaluated left to
//     right in IEEE doubles: 40, except 39 for n = 7, 14, 28, 49, 56, ...
//     (floating-point rounding: (100/700)*40*7 = 39.99999999999999).
//  3. Point i (0..L-1) = little-endian uint32 of md5(id + "-" + i)[0:4];
//     points sorted ascending, stably (ties keep node order, then i).
//  4. Lookup: the name is the key up to its first ':' (a statsd line is
//     name:value|type), as a JavaScript string: proxy.js decodes the packet
//     as UTF-8, so invalid bytes become U+FFFD (WHATWG rules) before md5;
//     h = little-endian uint32 of md5(name)[0:4]; the first point >= h,
//     else point 0.
//
// Because L depends on n, removing one backend (proxy.js does so on a
// failed health check) can also move keys between the backends that stay:
// that is the peer's behaviour and the property tests pin it.
// statsd has no replication. Hash returns h.

const statsdVnodes = 40

// statsdRing is hashring 3.2.0's continuum as statsd's proxy builds it.
type statsdRing struct {
	points []uint32
	owner  []int32
	n      int
}

// statsdID is the ring id proxy.js gives a node.
func statsdID(m Member) string {
	return m.Host + ":" + strconv.Itoa(m.Port)
}

// statsdPoints is hashring's per-node point count for n equal-weight nodes.
func statsdPoints(n int) int {
	pct := 100.0 / float64(100*n)
	return int(math.Floor(pct * statsdVnodes * float64(n)))
}

func newStatsdRing(members []Member) *statsdRing {
	n := len(members)
	l := statsdPoints(n)
	type point struct {
		v     uint32
		owner int32
	}
	pts := make([]point, 0, n*l)
	buf := make([]byte, 0, 64)
	for i, m := range members {
		buf = append(append(buf[:0], statsdID(m)...), '-')
		idLen := len(buf)
		for v := 0; v < l; v++ {
			buf = strconv.AppendInt(buf[:idLen], int64(v), 10)
			d := md5.Sum(buf)
			pts = append(pts, point{binary.LittleEndian.Uint32(d[:4]), int32(i)})
		}
	}
	slices.SortStableFunc(pts, func(a, b point) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	r := &statsdRing{points: make([]uint32, len(pts)), owner: make([]int32, len(pts)), n: n}
	for i, p := range pts {
		r.points[i] = p.v
		r.owner[i] = p.owner
	}
	return r
}

func (r *statsdRing) Len() int { return r.n }

// Hash returns the little-endian uint32 of md5(name), name being the key up
// to its first ':'.
func (r *statsdRing) Hash(key []byte) uint64 { return uint64(statsdHash(key)) }

func statsdHash(key []byte) uint32 {
	for i, c := range key {
		if c == ':' {
			key = key[:i]
			break
		}
	}
	var d [md5.Size]byte
	if utf8.Valid(key) {
		d = md5.Sum(key)
	} else {
		var buf [256]byte
		d = md5.Sum(appendWHATWGUTF8(buf[:0], key))
	}
	return binary.LittleEndian.Uint32(d[:4])
}

func (r *statsdRing) Lookup(key []byte, dst []int) []int {
	h := statsdHash(key)
	lo, hi := 0, len(r.points)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.points[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(r.points) {
		lo = 0
	}
	return append(dst[:0], int(r.owner[lo]))
}

// appendWHATWGUTF8 appends src decoded as UTF-8 the way the WHATWG Encoding
// standard (and so Node's Buffer.toString) does, and re-encoded: each
// maximal ill-formed subsequence becomes one U+FFFD.
func appendWHATWGUTF8(dst, src []byte) []byte {
	const repl = "\uFFFD"
	for i := 0; i < len(src); {
		c := src[i]
		if c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		need := 0
		lo, hi := byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c >= 0xE0 && c <= 0xEF:
			need = 2
			if c == 0xE0 {
				lo = 0xA0
			} else if c == 0xED {
				hi = 0x9F
			}
		case c >= 0xF0 && c <= 0xF4:
			need = 3
			if c == 0xF0 {
				lo = 0x90
			} else if c == 0xF4 {
				hi = 0x8F
			}
		default:
			dst = append(dst, repl...)
			i++
			continue
		}
		j := i + 1
		ok := true
		for ; need > 0; need-- {
			if j >= len(src) || src[j] < lo || src[j] > hi {
				ok = false
				break
			}
			lo, hi = 0x80, 0xBF
			j++
		}
		if ok {
			dst = append(dst, src[i:j]...)
		} else {
			dst = append(dst, repl...)
		}
		i = j
	}
	return dst
}
