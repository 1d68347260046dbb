package line

import (
	"fmt"
	"strings"
	"testing"
)

const testRegex = `^(?P<Key>[^ ]+) \S+ \d+$`

var regexCases = []struct {
	in  string
	key string
	r   Reason
}{
	{in: "a.b.c 1 1732236000", key: "a.b.c"},
	{in: "x.\xc3\xa9 1 2", key: "x.\xc3\xa9"},
	{in: "", r: Empty},
	{in: "a.b.c", r: NoMatch},
	{in: "a.b.c 1 x", r: NoMatch},
	{in: "nul\x00 1 2", key: "nul\x00", r: BadChar},
}

func TestRegexKey(t *testing.T) {
	f, err := NewFormat(FormatConfig{Format: FormatRegex, Regex: testRegex})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range regexCases {
		key, r := f.Key(nil, []byte(tc.in))
		if r != tc.r || (tc.key != "" || r == OK) && string(key) != tc.key {
			t.Errorf("Key(%q) with %q = %q, %v; want %q, %v", tc.in, testRegex, key, r, tc.key, tc.r)
		}
	}
}

func TestRegexOptionalAndEmptyKey(t *testing.T) {
	for _, tc := range []struct {
		expr, in string
		key      string
		r        Reason
	}{
		{`^(?:key=(?P<Key>\w+))?.*$`, "nothing here", "", NoMatch},
		{`^(?:key=(?P<Key>\w+))?.*$`, "key=abc rest", "abc", OK},
		{`^k=(?P<Key>\w*);`, "k=;", "", NoKey},
		{`app=(?P<Key>[a-z]+)`, "ts=1 app=web v=2", "web", OK},
	} {
		f, err := NewFormat(FormatConfig{Format: FormatRegex, Regex: tc.expr})
		if err != nil {
			t.Fatalf("NewFormat(regex %q): %v", tc.expr, err)
		}
		key, r := f.Key(nil, []byte(tc.in))
		if r != tc.r || string(key) != tc.key {
			t.Errorf("Key(%q) with %q = %q, %v; want %q, %v", tc.in, tc.expr, key, r, tc.key, tc.r)
		}
	}
}

func TestNewFormatErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  FormatConfig
		want []string // substrings of the error
	}{
		{FormatConfig{Format: "pickle"}, []string{`"pickle"`, "unknown format", "graphite"}},
		{FormatConfig{}, []string{`""`, "unknown format"}},
		{FormatConfig{Format: FormatRegex}, []string{"regex is empty", "(?P<Key>...)"}},
		{FormatConfig{Format: FormatRegex, Regex: `(`}, []string{"failed to compile regex", `"("`}},
		{FormatConfig{Format: FormatRegex, Regex: `^(\S+) `}, []string{`"^(\\S+) "`, "no (?P<Key>...) group"}},
		{FormatConfig{Format: FormatRegex, Regex: `^(?P<key>\S+) `}, []string{"no (?P<Key>...) group"}},
		{FormatConfig{Format: FormatGraphite, Regex: `(?P<Key>.*)`}, []string{"regex is only used with format"}},
		{FormatConfig{Format: FormatStatsd, CCRNames: true}, []string{"ccr_names is only used with format"}},
	} {
		_, err := NewFormat(tc.cfg)
		if err == nil {
			t.Errorf("NewFormat(%+v) = nil error; want one containing %q", tc.cfg, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("NewFormat(%+v) error %q; want it to contain %q", tc.cfg, err, w)
			}
		}
		if verr := tc.cfg.Validate(); verr == nil || verr.Error() != err.Error() {
			t.Errorf("Validate(%+v) = %v; want the NewFormat error %q", tc.cfg, verr, err)
		}
	}
}

func TestNewFormatNames(t *testing.T) {
	for _, cfg := range []FormatConfig{
		DefaultFormatConfig(),
		{Format: FormatStatsd},
		{Format: FormatRegex, Regex: testRegex},
		{Format: FormatGraphite, CCRNames: true},
	} {
		f, err := NewFormat(cfg)
		if err != nil {
			t.Errorf("NewFormat(%+v): %v", cfg, err)
			continue
		}
		if f.Name() != cfg.Format {
			t.Errorf("NewFormat(%+v).Name() = %q; want %q", cfg, f.Name(), cfg.Format)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v; want nil", cfg, err)
		}
	}
}

func TestReasons(t *testing.T) {
	rs := Reasons()
	seen := map[string]bool{}
	for _, r := range rs {
		s := r.String()
		if r == OK || s == "ok" || s == "unknown" || seen[s] {
			t.Errorf("Reasons() has %d (%q): want distinct non-OK named reasons", r, s)
		}
		for _, c := range s {
			if !('a' <= c && c <= 'z' || c == '_') {
				t.Errorf("Reason %d label %q is not snake_case", r, s)
				break
			}
		}
		seen[s] = true
	}
	for _, want := range []string{"empty", "too_long", "no_key", "bad_fields", "bad_value", "bad_timestamp", "bad_type", "bad_rate", "no_match", "bad_char"} {
		if !seen[want] {
			t.Errorf("Reasons() lacks %q; got %v", want, rs)
		}
	}
	if OK.String() != "ok" || Reason(200).String() != "unknown" {
		t.Errorf("OK.String() = %q, Reason(200).String() = %q; want ok, unknown", OK.String(), Reason(200).String())
	}
}

// TestFormatsConcurrent: formats are shared by all connections of a
// listener; run with -race.
func TestFormatsConcurrent(t *testing.T) {
	cfgs := []FormatConfig{DefaultFormatConfig(), {Format: FormatStatsd}, {Format: FormatRegex, Regex: testRegex}}
	lines := [][]byte{[]byte("a.b.c 1 1732236000"), []byte("a.b:1|c"), []byte("  x\t1 2")}
	for _, cfg := range cfgs {
		f, err := NewFormat(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]Reason, len(lines))
		for i, l := range lines {
			_, want[i] = f.Key(nil, l)
		}
		done := make(chan error, 4)
		for range 4 {
			go func() {
				dst := make([]byte, 0, 64)
				for n := range 500 {
					l := lines[n%len(lines)]
					if _, r := f.Key(dst, l); r != want[n%len(lines)] {
						done <- fmt.Errorf("%s Key(%q) = %v concurrently; want %v", f.Name(), l, r, want[n%len(lines)])
						return
					}
				}
				done <- nil
			}()
		}
		for range 4 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}
