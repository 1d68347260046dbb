package line

import (
	"bytes"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for every parser and the Reader. Their seed corpus is the
// table cases, so plain `go test` runs them; `go test -fuzz=FuzzX` explores.

// isView reports whether sub lies inside whole's memory.
func isView(sub, whole []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(whole) == 0 {
		return false
	}
	s0 := &sub[0]
	for i := range whole {
		if &whole[i] == s0 {
			return i+len(sub) <= len(whole)
		}
	}
	return false
}

func FuzzGraphite(f *testing.F) {
	for _, tc := range graphiteCases {
		f.Add([]byte(tc.in))
	}
	g, err := NewFormat(DefaultFormatConfig())
	if err != nil {
		f.Fatal(err)
	}
	rw := g.(Rewriter)
	f.Fuzz(func(t *testing.T, in []byte) {
		name, value, ts, r := ParseGraphite(in)
		key, kr := g.Key(nil, in)
		if kr != r || !bytes.Equal(key, name) {
			t.Fatalf("Key(%q) = %q, %v; ParseGraphite says %q, %v", in, key, kr, name, r)
		}
		checkKeyRewrite(t, g, in)
		fields := bytes.FieldsFunc(in, func(c rune) bool { return c == ' ' || c == '\t' })
		switch {
		case len(fields) == 0:
			if r != Empty {
				t.Fatalf("ParseGraphite(%q) = %v; want empty for a blank line", in, r)
			}
			return
		case len(fields) != 3:
			if r != BadFields {
				t.Fatalf("ParseGraphite(%q) = %v; want bad_fields for %d fields", in, r, len(fields))
			}
			return
		}
		// The reason must be what the documented grammar, written as
		// regular expressions, gives.
		want := OK
		switch {
		case !refNumber.Match(fields[1]) && !refInf.Match(fields[1]):
			want = BadValue
		case !refNumber.Match(fields[2]):
			want = BadTimestamp
		case bytes.ContainsFunc(fields[0], func(c rune) bool { return c < 0x20 || c == 0x7f }):
			want = BadChar
		}
		if r != want {
			t.Fatalf("ParseGraphite(%q) = %v; want %v", in, r, want)
		}
		if r != OK {
			return
		}
		if !bytes.Equal(name, fields[0]) || !bytes.Equal(value, fields[1]) || !bytes.Equal(ts, fields[2]) || !isView(name, in) {
			t.Fatalf("ParseGraphite(%q) = %q %q %q; want views of the fields %q", in, name, value, ts, fields)
		}
		for _, c := range name {
			if isCtl(c) {
				t.Fatalf("ParseGraphite(%q) accepted a key with control byte %#x", in, c)
			}
		}
		v, err := strconv.ParseFloat(string(value), 64)
		if err != nil && !errorsIsRange(err) || math.IsNaN(v) {
			t.Fatalf("ParseGraphite(%q) accepted value %q that ParseFloat reads as %v, %v", in, value, v, err)
		}
		tv, err := strconv.ParseFloat(string(ts), 64)
		if err != nil && !errorsIsRange(err) || math.IsNaN(tv) || math.IsInf(tv, 0) && !errorsIsRange(err) {
			t.Fatalf("ParseGraphite(%q) accepted timestamp %q that ParseFloat reads as %v, %v", in, ts, tv, err)
		}
		out := rw.Rewrite(nil, in)
		n2, v2, t2, r2 := ParseGraphite(out)
		if r2 != OK || !bytes.Equal(n2, name) || !bytes.Equal(v2, value) || !bytes.Equal(t2, ts) ||
			len(out) != len(name)+len(value)+len(ts)+2 {
			t.Fatalf("Rewrite(%q) = %q; want the same three fields with single spaces", in, out)
		}
	})
}

// The number grammar of number.go as regular expressions, for the fuzz
// targets to check the hand-written scanners against.
var (
	refNumber = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	refInf    = regexp.MustCompile(`^(?i)[+-]?inf(inity)?$`)
)

// FuzzGraphiteCCR: with carbon-c-relay names, a line is accepted exactly
// when the plain format accepts it (control bytes aside, which CCRName
// rewrites) and its CCRName-rewritten name has something before ';'; the
// forwarded line is the rewritten name and the same value and timestamp,
// never longer than the input, and the key is its prefix.
func FuzzGraphiteCCR(f *testing.F) {
	for _, tc := range graphiteCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("..a..b;t=x..y 1 2"))
	f.Add([]byte(";t=1 1 2"))
	ccr, err := NewFormat(FormatConfig{Format: FormatGraphite, CCRNames: true})
	if err != nil {
		f.Fatal(err)
	}
	rw := ccr.(Rewriter)
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.IndexByte(in, '\n') >= 0 {
			return // lines never hold a newline
		}
		checkKeyRewrite(t, ccr, in)
		name, value, ts, r := ParseGraphite(in)
		key, kr := ccr.Key(make([]byte, 0, 16), in)
		if r == BadChar {
			r = OK
		}
		if r == OK {
			full := CCRName(nil, name)
			want, _, _ := bytes.Cut(full, []byte(";"))
			if len(want) == 0 {
				r = NoKey
			}
			if kr == OK && !bytes.Equal(key, want) {
				t.Fatalf("ccr Key(%q) = %q; want CCRName's %q up to ';'", in, key, full)
			}
			if r == OK {
				out := rw.Rewrite(nil, in)
				exp := string(full) + " " + string(value) + " " + string(ts)
				if string(out) != exp || len(out) > len(in) {
					t.Fatalf("ccr Rewrite(%q) = %q; want %q, no longer than the input", in, out, exp)
				}
			}
		}
		if kr != r {
			t.Fatalf("ccr Key(%q) = %q, %v; want %v", in, key, kr, r)
		}
	})
}

// errorsIsRange: ParseFloat reports out-of-range (e.g. "1e999") with
// ErrRange and ±Inf; such numbers are syntactically fine.
func errorsIsRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// refStatsd is the statsd grammar of statsd.go written the slow, obvious
// way, the way Etsy's code splits a line.
func refStatsd(line string) Reason {
	if line == "" {
		return Empty
	}
	stat, _, _ := strings.Cut(line, "|#")
	parts := strings.Split(stat, ":")
	if len(parts) < 2 {
		return BadFields
	}
	key := parts[0]
	if key == "" {
		return NoKey
	}
	if strings.ContainsFunc(key, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return BadChar
	}
	for _, sample := range parts[1:] {
		fields := strings.Split(sample, "|")
		if len(fields) < 2 {
			return BadType
		}
		typ := strings.TrimFunc(fields[1], func(c rune) bool { return c == ' ' || '\t' <= c && c <= '\r' })
		switch typ {
		case "c", "ms", "g", "s", "h", "kv":
		default:
			return BadType
		}
		if len(fields) > 2 {
			rate, ok := strings.CutPrefix(fields[2], "@")
			v, err := strconv.ParseFloat(rate, 64)
			if !ok || !refNumber.MatchString(rate) || err != nil && !errorsIsRange(err) || !(v > 0) {
				return BadRate
			}
		}
		if typ == "s" {
			continue
		}
		if !refNumber.MatchString(fields[0]) {
			return BadValue
		}
		if v, _ := strconv.ParseFloat(fields[0], 64); typ == "ms" && v < 0 {
			return BadValue
		}
	}
	return OK
}

func FuzzStatsd(f *testing.F) {
	for _, tc := range statsdCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		key, r := ParseStatsd(in)
		if want := refStatsd(string(in)); r != want {
			t.Fatalf("ParseStatsd(%q) = %q, %v; want %v", in, key, r, want)
		}
		if r != OK {
			return
		}
		c := bytes.IndexByte(in, ':')
		if c <= 0 || !bytes.Equal(key, in[:c]) || !isView(key, in) {
			t.Fatalf("ParseStatsd(%q) key = %q; want a view of the non-empty text before the first ':'", in, key)
		}
	})
}

func FuzzRegex(f *testing.F) {
	for _, tc := range regexCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range graphiteCases {
		f.Add([]byte(tc.in))
	}
	rf, err := NewFormat(FormatConfig{Format: FormatRegex, Regex: testRegex})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		key, r := rf.Key(nil, in)
		if r != OK {
			return
		}
		if len(key) == 0 || !isView(key, in) || bytes.IndexByte(key, ' ') >= 0 {
			t.Fatalf("regex Key(%q) = %q; want a non-empty view without spaces", in, key)
		}
	})
}

func FuzzCut(f *testing.F) {
	for _, s := range []string{"", "a", "a\n", "a\r\n", "a\r\nb\nc", "\r", "\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		line, rest := Cut(in)
		if bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("Cut(%q) line %q holds a newline", in, line)
		}
		i := bytes.IndexByte(in, '\n')
		if i < 0 && (rest != nil || !bytes.Equal(bytes.TrimSuffix(in, []byte("\r")), line)) ||
			i >= 0 && (!bytes.Equal(rest, in[i+1:]) || !bytes.Equal(bytes.TrimSuffix(in[:i], []byte("\r")), line)) {
			t.Fatalf("Cut(%q) = %q, %q", in, line, rest)
		}
	})
}

// referenceLines is the obvious, slow model of a Reader: split on '\n'
// (the unterminated tail, if any, is a line), drop lines longer than
// maxLine bytes and count them, strip one '\r'.
func referenceLines(in []byte, maxLine int) (lines []string, overlong uint64) {
	parts := bytes.Split(in, []byte("\n"))
	if len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1]
	}
	for _, p := range parts {
		if len(p) > maxLine {
			overlong++
			continue
		}
		lines = append(lines, string(bytes.TrimSuffix(p, []byte("\r"))))
	}
	return lines, overlong
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a 1 2\nb 3 4\nc"), uint8(4), uint8(3))
	f.Add([]byte("short\nxxxxxxxxxxxxxxxxxxxx\nafter\r\n"), uint8(8), uint8(8))
	f.Add([]byte("\n\n\r\n"), uint8(1), uint8(0))
	for _, tc := range graphiteCases {
		f.Add([]byte(tc.in+"\n"+tc.in), uint8(12), uint8(5))
	}
	f.Fuzz(func(t *testing.T, in []byte, maxLine, extra uint8) {
		ml := int(maxLine%64) + 1
		cfg := ReaderConfig{MaxLine: ml, BufSize: ml + 1 + int(extra%64)}
		want, wantOver := referenceLines(in, ml)
		for name, rd := range map[string]io.Reader{
			"whole": bytes.NewReader(in),
			"chunk": &chunkReader{data: in},
		} {
			r := NewReader(rd, cfg)
			got, _, err := readAll(r)
			if err != io.EOF {
				t.Fatalf("%s: Next error %v; want io.EOF", name, err)
			}
			if len(got) != len(want) || r.Overlong() != wantOver {
				t.Fatalf("%s %+v: Reader(%q) = %q, overlong %d; want %q, overlong %d", name, cfg, in, got, r.Overlong(), want, wantOver)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s %+v: Reader(%q) = %q; want %q", name, cfg, in, got, want)
				}
			}
		}
	})
}
