package line

import (
	"bytes"
	"encoding/binary"
)

// ParseGraphite splits a graphite plaintext line (without its '\n') into its
// three fields and validates them. The returned slices are views into line:
// the caller owns them for as long as it owns line. name is set whenever the
// line has a first field, also when r != OK, so it can be logged.
//
// Graphite plaintext: `name value timestamp`.
//
// Field splitting follows carbon (Python), whose receiver does
// `line.strip().split()`: leading and trailing blanks are ignored and fields
// are separated by runs of blanks. Blanks here are space and tab, the two
// characters carbon-c-relay's daemon normalises to a single space; other
// control characters are not separators and a key containing one is BadChar.
// There must be exactly three fields (carbon unpacks exactly three;
// go-carbon and carbon-relay-ng reject anything else), so "name value" and
// "name value ts extra" are BadFields, not forwarded. carbon-c-relay itself
// forwards any line with a space in it unvalidated; we are stricter because a
// line a go-carbon backend rejects aborts the rest of the batch it came in.
//
// The value must be a finite decimal number, [+-]?(d+[.d*]|.d+)([eE][+-]?d+)?
// (no hex, no '_', no blanks), or ±inf/infinity in any letter case: carbon's
// float() and go-carbon's ParseFloat both read all of those alike.
// NaN is BadValue: carbon silently drops NaN points and go-carbon rejects
// them. The timestamp must be a finite decimal number, integer or not,
// including -1 ("now" for carbon): both carbon and go-carbon parse it as a
// float. nan/inf timestamps are BadTimestamp (carbon's int() fails on them).
func ParseGraphite(line []byte) (name, value, timestamp []byte, r Reason) {
	name, value, timestamp, ctl, r := splitGraphite(line)
	if r == OK && ctl {
		r = BadChar
	}
	return name, value, timestamp, r
}

// splitGraphite does the work of ParseGraphite but reports a control
// character in the name separately (ctl) instead of as BadChar, so that the
// carbon-c-relay mode, which rewrites such bytes to '_', can ignore it.
func splitGraphite(line []byte) (name, value, timestamp []byte, ctl bool, r Reason) {
	i, n := 0, len(line)
	for i < n && isBlank(line[i]) {
		i++
	}
	if i == n {
		return nil, nil, nil, false, Empty
	}
	s := i
	for {
		for i+8 <= n && !hasCtlOrSpace(binary.LittleEndian.Uint64(line[i:])) {
			i += 8
		}
		for i < n && line[i] > ' ' && line[i] != 0x7f {
			i++
		}
		if i == n || isBlank(line[i]) {
			break
		}
		ctl = true
		i++
	}
	name = line[s:i]
	for i < n && isBlank(line[i]) {
		i++
	}
	// Value and timestamp: read the number in place and only walk on to
	// the end of the field when it is not one.
	s = i
	m, _, _ := decimalPrefix(line[i:])
	i += m
	valueOK := m > 0 && (i == n || isBlank(line[i]))
	if !valueOK {
		for i < n && !isBlank(line[i]) {
			i++
		}
		valueOK = isInf(line[s:i])
	}
	value = line[s:i]
	for i < n && isBlank(line[i]) {
		i++
	}
	s = i
	m, _, _ = decimalPrefix(line[i:])
	i += m
	tsOK := m > 0 && (i == n || isBlank(line[i]))
	for i < n && !isBlank(line[i]) {
		i++
	}
	timestamp = line[s:i]
	for i < n && isBlank(line[i]) {
		i++
	}
	switch {
	case i != n || len(timestamp) == 0:
		r = BadFields
	case !valueOK:
		r = BadValue
	case !tsOK:
		r = BadTimestamp
	}
	return name, value, timestamp, ctl, r
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// graphite is the graphite Format. It is immutable and safe for concurrent use.
type graphite struct {
	// ccr, when set, is CCRName: names rewritten the way carbon-c-relay's
	// daemon does. It appends at most len(name) bytes, which keeps keys and
	// rewritten lines no longer than the line read.
	ccr func(dst, name []byte) []byte
}

var (
	_ Format      = (*graphite)(nil)
	_ Rewriter    = (*graphite)(nil)
	_ KeyRewriter = (*graphite)(nil)
)

func (g *graphite) Name() string { return "graphite" }

// Key returns the name field as a view into line, tags (";k=v") included,
// as carbon-relay and carbon-relay-ng hash it. With carbon-c-relay names,
// the key is the rewritten name up to its first ';' (tags are not hashed,
// as in the daemon), built in dst; a name that rewrites to nothing, or one
// that is only tags, is NoKey.
func (g *graphite) Key(dst, line []byte) ([]byte, Reason) {
	name, _, _, ctl, r := splitGraphite(line)
	if r != OK {
		return name, r
	}
	if g.ccr == nil {
		if ctl {
			return name, BadChar
		}
		return name, OK
	}
	key := g.ccr(dst[:0], name)
	if i := bytes.IndexByte(key, ';'); i >= 0 {
		key = key[:i]
	}
	if len(key) == 0 {
		return key, NoKey
	}
	return key, OK
}

// Rewrite returns the line to forward: `name value timestamp` with single
// spaces and no surrounding blanks, as carbon-c-relay normalises whitespace,
// and with the name rewritten when carbon-c-relay names are on. A line that
// is already in that form is returned as is (no copy); otherwise the result
// is built in dst[:0]. Call it only for lines Key accepted; any other line is
// returned unchanged.
func (g *graphite) Rewrite(dst, line []byte) []byte {
	name, value, ts, _, r := splitGraphite(line)
	if r != OK {
		return line
	}
	if g.ccr == nil {
		if canonical(line, name, value, ts) {
			return line
		}
		dst = append(dst[:0], name...)
	} else {
		dst = g.ccr(dst[:0], name)
	}
	return appendRest(dst, value, ts)
}

// KeyRewrite is Key and Rewrite in one pass over the line (and one CCRName
// call instead of two with carbon-c-relay names): key and r are what Key
// returns, out what Rewrite returns when r is OK (line itself otherwise).
// key is a view into line or into out, out is line or built in dst[:0].
func (g *graphite) KeyRewrite(dst, line []byte) (key, out []byte, r Reason) {
	name, value, ts, ctl, r := splitGraphite(line)
	if r != OK {
		return name, line, r
	}
	if g.ccr == nil {
		if ctl {
			return name, line, BadChar
		}
		if canonical(line, name, value, ts) {
			return name, line, OK
		}
		return name, appendRest(append(dst[:0], name...), value, ts), OK
	}
	out = g.ccr(dst[:0], name)
	k := len(out)
	if i := bytes.IndexByte(out, ';'); i >= 0 {
		k = i
	}
	if k == 0 {
		return out[:0], line, NoKey
	}
	out = appendRest(out, value, ts)
	return out[:k], out, OK
}

// canonical reports whether line is exactly name, ' ', value, ' ', ts. The
// fields are splitGraphite's views into line, in order and separated by
// blanks, so the lengths add up only without extra blanks; then the two
// separators must be spaces, not tabs.
func canonical(line, name, value, ts []byte) bool {
	return len(line) == len(name)+len(value)+len(ts)+2 &&
		line[len(name)] == ' ' && line[len(name)+1+len(value)] == ' '
}

// appendRest appends " value timestamp" to dst.
func appendRest(dst, value, ts []byte) []byte {
	dst = append(dst, ' ')
	dst = append(dst, value...)
	dst = append(dst, ' ')
	return append(dst, ts...)
}
