package line

import "testing"

// statsdCases: the Etsy statsd validation table (test/helpers_tests.js,
// research/aggregation-api.md §1.1) plus our documented divergences.
var statsdCases = []struct {
	in  string
	key string
	r   Reason
}{
	{in: "gorets:1|c", key: "gorets"},
	{in: "gorets:1|c|@0.1", key: "gorets"},
	{in: "glork:320|ms", key: "glork"},
	{in: "glork:200|ms|@0.5", key: "glork"},
	{in: "gaugor:333|g", key: "gaugor"},
	{in: "gaugor:-10|g", key: "gaugor"},
	{in: "gaugor:+4|g", key: "gaugor"},
	{in: "uniques:765|s", key: "uniques"},
	{in: "uniques:|s", key: "uniques"},
	{in: "uniques:any text at all|s", key: "uniques"},
	{in: "hist:5|h", key: "hist"},
	{in: "kv:5|kv", key: "kv"},
	{in: "multi:1|c:2|c", key: "multi"},
	{in: "multi:1|c:2|ms:3|g", key: "multi"},
	{in: "crlf:1|c\r", key: "crlf"},
	{in: "sp:1| c ", key: "sp"},
	{in: "a:+10e1|c", key: "a"},
	{in: "a:1.0|c", key: "a"},
	{in: "a:.5|c", key: "a"},
	{in: "t:-0.0|ms", key: "t"},
	{in: "t:+1|ms", key: "t"},
	{in: "t:0|ms", key: "t"},
	{in: "r:1|c|@2", key: "r"},
	{in: "r:1|c|@.2", key: "r"},
	{in: "r:1|c|@0.2", key: "r"},
	{in: "r:1|c|@2e-1", key: "r"},
	{in: "r:1|c|@+1", key: "r"},
	{in: "r:1|c|@0.5|ignored", key: "r"},
	{in: "tagged:250|c|#tag1:val1,tag2:val2", key: "tagged"},
	{in: "tagged:250|c|@0.5|#tag1:val1", key: "tagged"},
	{in: "gtag;env=prod:5|g", key: "gtag;env=prod"},
	{in: "fo/o:1|c", key: "fo/o"},
	{in: "b ar:1|c", key: "b ar"},
	{in: "foo+bar:1|c", key: "foo+bar"},
	{in: "x.\xc3\xa9:1|c", key: "x.\xc3\xa9"},
	// refused
	{in: "", r: Empty},
	{in: "foo", r: BadFields},
	{in: "a_bad_test_value|z", r: BadFields},
	{in: "a|#b:1|c", r: BadFields},
	{in: ":1|c", key: "", r: NoKey},
	{in: "foo:1", key: "foo", r: BadType},
	{in: "foo:1|c:2", key: "foo", r: BadType},
	{in: "foo:1|c:", key: "foo", r: BadType},
	{in: "foo:1|x", key: "foo", r: BadType},
	{in: "foo:1|", key: "foo", r: BadType},
	{in: "foo:1|d", key: "foo", r: BadType},
	{in: "foo:1|C", key: "foo", r: BadType},
	{in: "foo:1|c|@", key: "foo", r: BadRate},
	{in: "foo:1|c|@blah", key: "foo", r: BadRate},
	{in: "foo:1|c|@.", key: "foo", r: BadRate},
	{in: "foo:1|c|@.1.", key: "foo", r: BadRate},
	{in: "foo:1|c|@-1.0", key: "foo", r: BadRate},
	{in: "foo:1|c|", key: "foo", r: BadRate},
	{in: "foo:1|c|0.5", key: "foo", r: BadRate},
	{in: "foo:1|c|@0", key: "foo", r: BadRate},
	{in: "foo:1|c|@-0", key: "foo", r: BadRate},
	{in: "foo:|c", key: "foo", r: BadValue},
	{in: "foo:0,345|c", key: "foo", r: BadValue},
	{in: "foo:abc|g", key: "foo", r: BadValue},
	{in: "foo:-1|ms", key: "foo", r: BadValue},
	{in: "foo:-0.1|ms", key: "foo", r: BadValue},
	{in: "foo:0x10|c", key: "foo", r: BadValue},
	{in: "foo: 1|c", key: "foo", r: BadValue},
	{in: "foo:Infinity|c", key: "foo", r: BadValue},
	{in: "foo:NaN|c", key: "foo", r: BadValue},
	{in: "foo:1|c:x|c", key: "foo", r: BadValue},
	{in: "nul\x00:1|c", key: "nul\x00", r: BadChar},
	{in: "tab\t:1|c", key: "tab\t", r: BadChar},
}

func TestStatsdKey(t *testing.T) {
	f, err := NewFormat(FormatConfig{Format: FormatStatsd})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(Rewriter); ok {
		t.Errorf("statsd format %T implements Rewriter; statsd lines are forwarded as read", f)
	}
	for _, tc := range statsdCases {
		key, r := f.Key(nil, []byte(tc.in))
		if r != tc.r || (tc.key != "" || r == OK) && string(key) != tc.key {
			t.Errorf("Key(%q) = %q, %v; want %q, %v", tc.in, key, r, tc.key, tc.r)
		}
	}
}

// TestStatsdKeyMatchesProxy: for every accepted line the key is the text
// before the line's first ':', which is what statsd's proxy.js hashes.
func TestStatsdKeyMatchesProxy(t *testing.T) {
	for _, tc := range statsdCases {
		key, r := ParseStatsd([]byte(tc.in))
		if r != OK {
			continue
		}
		want := tc.in
		for i := range len(tc.in) {
			if tc.in[i] == ':' {
				want = tc.in[:i]
				break
			}
		}
		if string(key) != want {
			t.Errorf("ParseStatsd(%q) key = %q; want the text before the first ':' %q", tc.in, key, want)
		}
	}
}
