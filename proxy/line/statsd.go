package line

import (
	"bytes"
	"encoding/binary"
)

// ParseStatsd validates a statsd line (without its '\n') and returns its key,
// a view into line that the caller owns for as long as it owns line. key is
// set whenever the line has a ':' before any "|#", also when r != OK.
//
// Statsd lines follow Etsy statsd (stats.js handlePacket, lib/helpers.js
// is_valid_packet):
//
//	key:sample[:sample...][|#tags]    sample = value|type[|@rate][|ignored...]
//
// The line is first cut at the first "|#" (DogStatsD tags, not validated);
// the key is the text before the first ':'; every further ':' starts another
// sample for the same key ("multi:1|c:2|c"). Per sample, as Etsy checks it:
//   - a type is required; it is trimmed of blanks ("c\r" counts as "c") and
//     must be one of c, ms, g, s, h, kv (Etsy's own types plus the h and kv
//     that statsrelay validates). Etsy counts any other type as a counter;
//     we refuse it (BadType) rather than forward what a backend may not know.
//   - s (set): any value, even empty.
//   - g: a decimal number; a leading sign is a delta ("+4", "-10").
//   - ms: a decimal number that is not negative ("-0.0" is fine, "-1" is not).
//   - c, h, kv: a decimal number.
//   - an optional third field must be '@' and a decimal number > 0. Etsy also
//     accepts "@0" (the counter becomes Infinity); we refuse it (BadRate).
//   - fields after the rate are ignored, as Etsy does.
//
// "Decimal number" is [+-]?(d+[.d*]|.d+)([eE][+-]?d+)?. Etsy's Number()
// also takes hex ("0x10"), blank padding and "Infinity"; we refuse those
// (BadValue): other statsd servers and Go's ParseFloat do not read them alike.
// A line is forwarded only if every sample is good (Etsy would drop just the
// bad samples and count each one in bad_lines_seen). An empty line is Empty;
// a line without ':' is BadFields (Etsy reads it as a sample without a type).
func ParseStatsd(line []byte) (key []byte, r Reason) {
	if len(line) == 0 {
		return nil, Empty
	}
	// The key ends at the first ':' unless "|#" comes first: then the
	// statsd part of the line (before the tags) has no ':' at all.
	c := bytes.IndexByte(line, ':')
	if c < 0 {
		return nil, BadFields
	}
	key = line[:c]
	ctl, pipe := scanKey(key)
	if pipe && indexTags(key) >= 0 {
		return nil, BadFields
	}
	if len(key) == 0 {
		return key, NoKey
	}
	if ctl {
		return key, BadChar
	}
	rest := line[c+1:]
	if t := indexTags(rest); t >= 0 {
		rest = rest[:t]
	}
	for {
		j := indexShort(rest, ':')
		if r := checkSample(rest[:j]); r != OK {
			return key, r
		}
		if j == len(rest) {
			return key, OK
		}
		rest = rest[j+1:]
	}
}

// scanKey reports whether key holds a control character and whether it
// holds a '|', eight bytes at a time.
func scanKey(key []byte) (ctl, pipe bool) {
	i := 0
	for ; i+8 <= len(key); i += 8 {
		x := binary.LittleEndian.Uint64(key[i:])
		if y := x ^ ('|' * lsb); hasCtl(x) || (y-lsb)&^y&msb != 0 {
			break
		}
	}
	for ; i < len(key); i++ {
		ctl = ctl || isCtl(key[i])
		pipe = pipe || key[i] == '|'
	}
	return ctl, pipe
}

// indexTags returns the index of the first "|#" in b, or -1.
func indexTags(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '|')
		if i < 0 {
			return -1
		}
		off += i + 1
		if off < len(b) && b[off] == '#' {
			return off - 1
		}
	}
}

// indexShort returns the index of the first c in b, or len(b). A plain loop:
// statsd samples are a few bytes, too short for IndexByte to pay off.
func indexShort(b []byte, c byte) int {
	i := 0
	for i < len(b) && b[i] != c {
		i++
	}
	return i
}

// checkSample validates one `value|type[|@rate][|...]` sample.
func checkSample(s []byte) Reason {
	p := indexShort(s, '|')
	if p == len(s) {
		return BadType
	}
	value, rest := s[:p], s[p+1:]
	p = indexShort(rest, '|')
	typ, hasRate := rest[:p], p < len(rest)
	var rate []byte
	if hasRate {
		rate = rest[p+1:]
		rate = rate[:indexShort(rate, '|')]
	}
	typ = trimBlanks(typ)
	var valueOK bool
	switch string(typ) {
	case "s":
		valueOK = true
	case "ms":
		ok, neg, nonzero := decimal(value)
		valueOK = ok && !(neg && nonzero)
	case "c", "g", "h", "kv":
		valueOK, _, _ = decimal(value)
	default:
		return BadType
	}
	if hasRate {
		if len(rate) == 0 || rate[0] != '@' {
			return BadRate
		}
		if ok, neg, nonzero := decimal(rate[1:]); !ok || neg || !nonzero {
			return BadRate
		}
	}
	if !valueOK {
		return BadValue
	}
	return OK
}

// trimBlanks trims spaces, tabs and the other ASCII blanks JavaScript's
// String.prototype.trim removes (\v, \f, \r, \n).
func trimBlanks(b []byte) []byte {
	for len(b) > 0 && isJSBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isJSBlank(c byte) bool { return c == ' ' || ('\t' <= c && c <= '\r') }

// statsd is the statsd Format. It is stateless and safe for concurrent use.
type statsd struct{}

var _ Format = statsd{}

func (statsd) Name() string { return "statsd" }

// Key returns ParseStatsd's key: a view into line; dst is not used.
func (statsd) Key(_, line []byte) ([]byte, Reason) { return ParseStatsd(line) }
