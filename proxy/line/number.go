package line

import "encoding/binary"

// Number grammar shared by the formats, checked byte by byte without
// converting to string or float (so nothing escapes and nothing allocates):
//
//	decimal = [+-]? ( digits [ "." digits? ] | "." digits ) [ [eE] [+-]? digits ]
//
// That is the intersection of what Python's float() (carbon), Go's
// strconv.ParseFloat (go-carbon, carbon-relay-ng) and JavaScript's Number()
// (Etsy statsd) all read as a finite number: no hex, no '_' digit
// separators, no surrounding blanks.

// decimal reports whether b is a decimal number as above, whether it starts
// with '-', and whether any mantissa digit is non-zero (so "-0.0e5" is
// negative but zero).
func decimal(b []byte) (ok, neg, nonzero bool) {
	n, neg, nonzero := decimalPrefix(b)
	return n > 0 && n == len(b), neg, nonzero
}

// decimalPrefix returns the length of the longest prefix of b that is a
// decimal number (0: none), with decimal's neg and nonzero for it. An
// exponent marker without digits is not part of the number ("1e" reads "1").
func decimalPrefix(b []byte) (n int, neg, nonzero bool) {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	digits := 0
	for ; i < len(b) && isDigit(b[i]); i++ {
		digits++
		nonzero = nonzero || b[i] != '0'
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && isDigit(b[i]); i++ {
			digits++
			nonzero = nonzero || b[i] != '0'
		}
	}
	if digits == 0 {
		return 0, neg, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		exp := j
		for ; j < len(b) && isDigit(b[j]); j++ {
		}
		if j > exp {
			i = j
		}
	}
	return i, neg, nonzero
}

// isInf reports whether b is an optionally signed "inf" or "infinity" in any
// letter case, which both carbon (float()) and go-carbon (ParseFloat) accept.
func isInf(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	return foldEq(b, "inf") || foldEq(b, "infinity")
}

// foldEq reports whether b equals the lower-case ASCII word w, ignoring case.
func foldEq(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isCtl reports whether c is an ASCII control character (NUL..US, DEL).
func isCtl(c byte) bool { return c < 0x20 || c == 0x7f }

// Word-at-a-time byte tests (SWAR): eight bytes per step instead of one.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasCtlOrSpace reports whether any byte of the 8-byte word x is < 0x21
// (a control character or space) or 0x7f. x - n*lsb borrows into a byte's
// high bit only from a byte below n, and &^x clears bytes >= 0x80, so the
// test is exact; the XOR turns 0x7f bytes into zero bytes for the second term.
func hasCtlOrSpace(x uint64) bool {
	y := x ^ (0x7f * lsb)
	return ((x-0x21*lsb)&^x|(y-lsb)&^y)&msb != 0
}

// hasCtl is hasCtlOrSpace without the space: any byte < 0x20 or 0x7f.
func hasCtl(x uint64) bool {
	y := x ^ (0x7f * lsb)
	return ((x-0x20*lsb)&^x|(y-lsb)&^y)&msb != 0
}

// ctlFree reports whether b holds no ASCII control character.
func ctlFree(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if hasCtl(binary.LittleEndian.Uint64(b[i:])) {
			break
		}
	}
	for ; i < len(b); i++ {
		if isCtl(b[i]) {
			return false
		}
	}
	return true
}
