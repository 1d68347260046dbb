package line

import (
	"bytes"
	"testing"
)

// graphiteCases are shared by the table test, the fuzz seed corpus and the
// Rewrite test. rewrite is the forwarded line when r == OK ("" = same as in).
var graphiteCases = []struct {
	in      string
	key     string
	r       Reason
	rewrite string
}{
	{in: "servers.fra2.web.web-00042.cpu.cpu3.iowait 12.5 1732236000", key: "servers.fra2.web.web-00042.cpu.cpu3.iowait"},
	{in: "a.b 1 2", key: "a.b"},
	{in: "a.b -1 -1", key: "a.b"},
	{in: "a.b +1.5e-3 1732236000.25", key: "a.b"},
	{in: "a.b .5 1e9", key: "a.b"},
	{in: "a.b 5. 1732236000", key: "a.b"},
	{in: "a.b 1E+3 1732236000", key: "a.b"},
	{in: "a.b inf 1", key: "a.b"},
	{in: "a.b -Infinity 1", key: "a.b"},
	{in: "a.b +INF 1", key: "a.b"},
	{in: "tagged.a;env=prod;dc=fra 1 2", key: "tagged.a;env=prod;dc=fra"},
	{in: "x.\xc3\xa9.y 1 2", key: "x.\xc3\xa9.y"},
	{in: "a:b#c 1 2", key: "a:b#c"},
	// whitespace: carbon's strip().split()
	{in: "multi   3\t\t4  ", key: "multi", rewrite: "multi 3 4"},
	{in: "multi   space\t\t3   4  ", key: "multi", r: BadFields},
	{in: "tab\t1\t2", key: "tab", rewrite: "tab 1 2"},
	{in: "  lead.space 1 2", key: "lead.space", rewrite: "lead.space 1 2"},
	{in: "trail.tab 1 2\t", key: "trail.tab", rewrite: "trail.tab 1 2"},
	// refused
	{in: "", r: Empty},
	{in: "   ", r: Empty},
	{in: "\t \t", r: Empty},
	{in: "nospace", key: "nospace", r: BadFields},
	{in: "two.fields 1", key: "two.fields", r: BadFields},
	{in: "two.fields 1 ", key: "two.fields", r: BadFields},
	{in: "four.fields 1 2 3", key: "four.fields", r: BadFields},
	{in: "bad.value abc 2", key: "bad.value", r: BadValue},
	{in: "bad.value nan 2", key: "bad.value", r: BadValue},
	{in: "bad.value NaN 2", key: "bad.value", r: BadValue},
	{in: "bad.value 0x10 2", key: "bad.value", r: BadValue},
	{in: "bad.value 1_000 2", key: "bad.value", r: BadValue},
	{in: "bad.value 1,5 2", key: "bad.value", r: BadValue},
	{in: "bad.value . 2", key: "bad.value", r: BadValue},
	{in: "bad.value 1e 2", key: "bad.value", r: BadValue},
	{in: "bad.value - 2", key: "bad.value", r: BadValue},
	{in: "bad.value infinit 2", key: "bad.value", r: BadValue},
	{in: "bad.ts 1 abc", key: "bad.ts", r: BadTimestamp},
	{in: "bad.ts 1 inf", key: "bad.ts", r: BadTimestamp},
	{in: "bad.ts 1 nan", key: "bad.ts", r: BadTimestamp},
	{in: "bad.ts 1 1e", key: "bad.ts", r: BadTimestamp},
	{in: "bad.ts 1 17322e+", key: "bad.ts", r: BadTimestamp},
	{in: "bad.ts 1 2\r", key: "bad.ts", r: BadTimestamp},
	{in: "nul\x00key 1 2", key: "nul\x00key", r: BadChar},
	{in: "ctl\x01key 1 2", key: "ctl\x01key", r: BadChar},
	{in: "del\x7fkey 1 2", key: "del\x7fkey", r: BadChar},
	{in: "vt\vkey 1 2", key: "vt\vkey", r: BadChar},
	{in: "cr\rkey 1 2", key: "cr\rkey", r: BadChar},
}

func TestGraphiteKey(t *testing.T) {
	f, err := NewFormat(FormatConfig{Format: FormatGraphite})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range graphiteCases {
		key, r := f.Key(nil, []byte(tc.in))
		if r != tc.r || (tc.key != "" || r == OK) && string(key) != tc.key {
			t.Errorf("Key(%q) = %q, %v; want %q, %v", tc.in, key, r, tc.key, tc.r)
		}
		_, _, _, pr := ParseGraphite([]byte(tc.in))
		if pr != tc.r {
			t.Errorf("ParseGraphite(%q) reason = %v; want %v", tc.in, pr, tc.r)
		}
	}
}

func TestGraphiteFields(t *testing.T) {
	for _, tc := range []struct {
		in, name, value, ts string
	}{
		{"a.b 1 2", "a.b", "1", "2"},
		{" \ta.b\t\t-1.5  17e8 ", "a.b", "-1.5", "17e8"},
	} {
		name, value, ts, r := ParseGraphite([]byte(tc.in))
		if r != OK || string(name) != tc.name || string(value) != tc.value || string(ts) != tc.ts {
			t.Errorf("ParseGraphite(%q) = %q, %q, %q, %v; want %q, %q, %q, ok", tc.in, name, value, ts, r, tc.name, tc.value, tc.ts)
		}
	}
}

func TestGraphiteRewrite(t *testing.T) {
	f, err := NewFormat(FormatConfig{Format: FormatGraphite})
	if err != nil {
		t.Fatal(err)
	}
	rw, ok := f.(Rewriter)
	if !ok {
		t.Fatalf("graphite format %T does not implement Rewriter", f)
	}
	scratch := make([]byte, 0, 64)
	for _, tc := range graphiteCases {
		if tc.r != OK {
			continue
		}
		in := []byte(tc.in)
		want := tc.rewrite
		if want == "" {
			want = tc.in
		}
		got := rw.Rewrite(scratch, in)
		if string(got) != want {
			t.Errorf("Rewrite(%q) = %q; want %q", tc.in, got, want)
		}
		// A line already in canonical form must come back as itself.
		if tc.rewrite == "" && len(got) > 0 && &got[0] != &in[0] {
			t.Errorf("Rewrite(%q) copied a line that needed no change", tc.in)
		}
	}
	// Refused lines come back unchanged.
	for _, in := range []string{"", "a 1", "a b c"} {
		if got := rw.Rewrite(scratch, []byte(in)); string(got) != in {
			t.Errorf("Rewrite(%q) of a refused line = %q; want it unchanged", in, got)
		}
	}
}

// TestGraphiteCCR: with ccr_names the key is CCRName's rewrite of the name
// up to ';' and the forwarded line carries the whole rewritten name. The
// expectations are what carbon-c-relay 3.7.3's daemon did with these names
// (testdata/graphite_ccr_lines.tsv has the daemon's own output), except
// where it forwards a line whose hashed name is empty: we refuse those.
func TestGraphiteCCR(t *testing.T) {
	f, err := NewFormat(FormatConfig{Format: FormatGraphite, CCRNames: true})
	if err != nil {
		t.Fatal(err)
	}
	rw := f.(Rewriter)
	for _, tc := range []struct {
		in, key string
		r       Reason
		fwd     string
	}{
		{"a.b 1 2", "a.b", OK, "a.b 1 2"},
		{"a..b;env=x..y 1 2", "a.b", OK, "a.b;env=x.y 1 2"},
		{"  a/b\t1   2", "a_b", OK, "a_b 1 2"},
		{"..lead.and.trail. 1 2", "lead.and.trail", OK, "lead.and.trail 1 2"},
		{"ctl\x01 1 2", "ctl_", OK, "ctl_ 1 2"},
		{"x.\xc3\xa9 1 2", "x.__", OK, "x.__ 1 2"},
		{";only=tags 1 2", "", NoKey, ""}, // the daemon forwards it, hashing ""
		{"a; 1 2", "", NoKey, ""},         // the daemon drops it
		{".. 1 2", "", NoKey, ""},         // the daemon drops it
		{"a.b 1", "", BadFields, ""},
		{"a.b x 2", "", BadValue, ""},
	} {
		dst := make([]byte, 0, 8)
		key, r := f.Key(dst, []byte(tc.in))
		if r != tc.r || r == OK && string(key) != tc.key {
			t.Errorf("ccr Key(%q) = %q, %v; want %q, %v", tc.in, key, r, tc.key, tc.r)
		}
		if r != OK {
			continue
		}
		if got := rw.Rewrite(nil, []byte(tc.in)); string(got) != tc.fwd {
			t.Errorf("ccr Rewrite(%q) = %q; want %q", tc.in, got, tc.fwd)
		}
	}
}

// TestGraphiteKeyRewrite: KeyRewrite gives what Key and Rewrite give, with
// and without carbon-c-relay names.
func TestGraphiteKeyRewrite(t *testing.T) {
	inputs := []string{"..a..b;t=x..y 1 2", ";t=1 1 2", "a; 1 2", "ctl\x01 1 2"}
	for _, tc := range graphiteCases {
		inputs = append(inputs, tc.in)
	}
	for _, ccr := range []bool{false, true} {
		f, err := NewFormat(FormatConfig{Format: FormatGraphite, CCRNames: ccr})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			checkKeyRewrite(t, f, []byte(in))
		}
	}
}

// checkKeyRewrite fails t unless f's KeyRewrite agrees with Key + Rewrite.
func checkKeyRewrite(t *testing.T, f Format, in []byte) {
	t.Helper()
	wantKey, wantR := f.Key(make([]byte, 0, 16), in)
	wantOut := in
	if wantR == OK {
		wantOut = f.(Rewriter).Rewrite(make([]byte, 0, 16), in)
	}
	key, out, r := f.(KeyRewriter).KeyRewrite(make([]byte, 0, 16), in)
	if r != wantR || !bytes.Equal(key, wantKey) || !bytes.Equal(out, wantOut) {
		t.Fatalf("%s ccr=%v KeyRewrite(%q) = %q, %q, %v; Key and Rewrite give %q, %q, %v",
			f.Name(), f.(*graphite).ccr != nil, in, key, out, r, wantKey, wantOut, wantR)
	}
}

func TestGraphiteKeyIsView(t *testing.T) {
	f, _ := NewFormat(DefaultFormatConfig())
	in := []byte("a.b 1 2")
	key, r := f.Key(nil, in)
	if r != OK || len(key) == 0 || &key[0] != &in[0] || !bytes.Equal(key, []byte("a.b")) {
		t.Errorf("Key(%q) = %q, %v; want a view of %q into the line", in, key, r, "a.b")
	}
}
