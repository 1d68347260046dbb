package aggregator

import (
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// AppendJSNumber appends v formatted as JavaScript's Number.prototype.toString
// does (ECMA-262 Number::toString with radix 10), which is how Etsy statsd
// writes every value it flushes: the shortest digits that read back as v, in
// fixed notation for 1e-6 <= |v| < 1e21 and in exponent notation otherwise
// ("1e+21", "1.5e-7"); -0 is "0"; NaN, Infinity and -Infinity are spelled out.
func AppendJSNumber(dst []byte, v float64) []byte {
	switch {
	case v != v:
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(v, -1):
		return append(dst, "-Infinity"...)
	case v == 0:
		return append(dst, '0')
	}
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	// Shortest round-trip digits d1.d2...dk and exponent e (v = d1.d2... × 10^e).
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], v, 'e', -1, 64)
	var digits [24]byte
	k, i := 0, 0
	for ; b[i] != 'e'; i++ {
		if b[i] != '.' {
			digits[k] = b[i]
			k++
		}
	}
	i++ // 'e'
	neg := b[i] == '-'
	e := 0
	for i++; i < len(b); i++ {
		e = e*10 + int(b[i]-'0')
	}
	if neg {
		e = -e
	}
	n := e + 1 // ECMA-262's n: v = 0.d1d2...dk × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits[:k]...)
		for j := k; j < n; j++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:k]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for j := n; j < 0; j++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits[:k]...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:k]...)
		}
		dst = append(dst, 'e')
		if n-1 < 0 {
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(1-n), 10)
		} else {
			dst = append(dst, '+')
			dst = strconv.AppendInt(dst, int64(n-1), 10)
		}
	}
	return dst
}

// FormatJSNumber returns AppendJSNumber(nil, v) as a string.
func FormatJSNumber(v float64) string { return string(AppendJSNumber(nil, v)) }

// isJSSpace reports whether r is in JavaScript's WhiteSpace or LineTerminator
// sets: what String.prototype.trim strips, what Number() ignores around a
// number and what the regexp \s matches.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// jsTrim returns s without leading and trailing JavaScript white space, as
// String.prototype.trim does on the UTF-8 decoded text.
func jsTrim(s []byte) []byte {
	for len(s) > 0 {
		if s[0] < utf8.RuneSelf {
			if !isJSSpace(rune(s[0])) {
				break
			}
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRune(s)
		if !isJSSpace(r) {
			break
		}
		s = s[n:]
	}
	for len(s) > 0 {
		if c := s[len(s)-1]; c < utf8.RuneSelf {
			if !isJSSpace(rune(c)) {
				break
			}
			s = s[:len(s)-1]
			continue
		}
		r, n := utf8.DecodeLastRune(s)
		if !isJSSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

// jsNumber converts s as JavaScript's Number(string) does (ECMA-262
// StringToNumber): white space around it is ignored, an empty string is 0,
// "Infinity" with an optional sign, 0x/0o/0b integers without a sign, and
// decimal literals ("5.", ".5", "1e2"). ok is false where JavaScript gives NaN.
// It does not allocate except for rare overflowing or non-decimal inputs.
func jsNumber(s []byte) (v float64, ok bool) {
	if v, ok := plainInteger(s); ok {
		return v, true
	}
	return jsNumberGeneral(s)
}

// jsNumberGeneral is jsNumber for any input.
func jsNumberGeneral(s []byte) (v float64, ok bool) {
	s = jsTrim(s)
	if len(s) == 0 {
		return 0, true
	}
	if len(s) > 2 && s[0] == '0' {
		switch s[1] | 0x20 {
		case 'x':
			return radixNumber(s[2:], 16)
		case 'o':
			return radixNumber(s[2:], 8)
		case 'b':
			return radixNumber(s[2:], 2)
		}
	}
	i := 0
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	if string(s[i:]) == "Infinity" {
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	intDigits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	// The syntax is a subset of what ParseFloat reads, and ParseFloat keeps
	// no reference to its argument (its errors clone it), so the string view
	// below is safe and saves an allocation per sample.
	v, err := strconv.ParseFloat(unsafe.String(&s[0], len(s)), 64)
	if err != nil && !math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// plainInteger reads the common case of a statsd value, an optionally
// signed decimal integer of at most 15 digits, which a float64 holds exactly
// (Number gives the same, -0 included). ok is false for anything else.
func plainInteger(s []byte) (float64, bool) {
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	i, neg := 0, false
	switch s[0] {
	case '-':
		i, neg = 1, true
	case '+':
		i = 1
	}
	if i == len(s) {
		return 0, false
	}
	var x uint64
	for ; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		x = x*10 + uint64(d)
	}
	v := float64(x)
	if neg {
		v = -v
	}
	return v, true
}

// radixNumber reads the digits of a 0x, 0o or 0b literal, rounded to the
// nearest float64 as V8 does.
func radixNumber(d []byte, base int) (float64, bool) {
	for _, c := range d {
		var x int
		switch {
		case c >= '0' && c <= '9':
			x = int(c - '0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			x = int(c|0x20-'a') + 10
		default:
			return 0, false
		}
		if x >= base {
			return 0, false
		}
	}
	var n big.Int
	if _, ok := n.SetString(string(d), base); !ok {
		return 0, false
	}
	f, _ := new(big.Float).SetInt(&n).Float64()
	return f, true
}

// jsRound is JavaScript's Math.round: the nearest integer, halves upwards.
func jsRound(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	f := math.Floor(x)
	if x-f >= 0.5 {
		f++
	}
	return f
}

// whatwgUTF8 returns b decoded as the WHATWG UTF-8 decoder (Node's
// Buffer.toString) does and encoded again: each maximal invalid subpart
// becomes one U+FFFD. Only used on the rare invalid input.
func whatwgUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out = append(out, c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xbf)
		switch {
		case c >= 0xc2 && c <= 0xdf:
			need = 1
		case c == 0xe0:
			need, lo = 2, 0xa0
		case c == 0xed:
			need, hi = 2, 0x9f
		case c >= 0xe1 && c <= 0xef:
			need = 2
		case c == 0xf0:
			need, lo = 3, 0x90
		case c == 0xf4:
			need, hi = 3, 0x8f
		case c >= 0xf1 && c <= 0xf3:
			need = 3
		default:
			out = utf8.AppendRune(out, utf8.RuneError)
			i++
			continue
		}
		j := i + 1
		good := true
		for k := 0; k < need; k++ {
			if j >= len(b) || b[j] < lo || b[j] > hi {
				good = false
				break
			}
			lo, hi = 0x80, 0xbf
			j++
		}
		if good {
			out = append(out, b[i:j]...)
		} else {
			out = utf8.AppendRune(out, utf8.RuneError)
		}
		i = j
	}
	return out
}
