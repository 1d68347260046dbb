package aggregator

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// goldenLines returns the tab-separated lines of a testdata file.
func goldenLines(t *testing.T, path string) [][2]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a, b, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		out = append(out, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAppendJSNumberGolden compares with node's String(x) for ~18,000 doubles
// (testdata/js/gen.sh).
func TestAppendJSNumberGolden(t *testing.T) {
	lines := goldenLines(t, "testdata/js/tostring.golden")
	if len(lines) < 10000 {
		t.Fatalf("only %d golden values", len(lines))
	}
	bad := 0
	for _, l := range lines {
		bits, err := strconv.ParseUint(l[0], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		v := math.Float64frombits(bits)
		if got := FormatJSNumber(v); got != l[1] {
			if bad++; bad < 20 {
				t.Errorf("FormatJSNumber(%v) [bits %s] = %q, want %q (node)", v, l[0], got, l[1])
			}
		}
	}
}

func TestAppendJSNumberExamples(t *testing.T) {
	a, b := 0.1, 0.2 // variables: constants would add exactly
	for _, c := range []struct {
		v    float64
		want string
	}{
		{a + b, "0.30000000000000004"}, {1e21, "1e+21"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {math.NaN(), "NaN"}, {math.Copysign(0, -1), "0"},
		{123456789012345680000, "123456789012345680000"}, {0.000001, "0.000001"}, {-2.5, "-2.5"}, {5, "5"},
	} {
		if got := FormatJSNumber(c.v); got != c.want {
			t.Errorf("FormatJSNumber(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TestJSNumberGolden compares jsNumber with node's Number(s)
// (testdata/js/gen.sh).
func TestJSNumberGolden(t *testing.T) {
	for _, l := range goldenLines(t, "testdata/js/tonumber.golden") {
		var in string
		if err := json.Unmarshal([]byte(l[0]), &in); err != nil {
			t.Fatal(err)
		}
		v, ok := jsNumber([]byte(in))
		got := "NaN"
		if ok {
			got = FormatJSNumber(v)
		}
		if got != l[1] {
			t.Errorf("jsNumber(%s) = %s, want %s (node)", l[0], got, l[1])
		}
	}
}

func TestJSRound(t *testing.T) {
	for _, c := range [][2]float64{{9.5, 10}, {0.5, 1}, {0.49999999999999994, 0}, {2.4, 2}, {-0.5, 0}, {-1.5, -1}, {4503599627370497, 4503599627370497}} {
		if got := jsRound(c[0]); got != c[1] {
			t.Errorf("jsRound(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}

func TestWHATWGUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"\xe2\x82", "\uFFFD"}, {"\xe2", "\uFFFD"}, {"\xff\xfe", "\uFFFD\uFFFD"}, {"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"a\xe2\x82b", "a\uFFFDb"}, {"\xf0\x9f\x98\x80", "\U0001F600"}, {"\xf0\x9f\x98", "\uFFFD"}, {"\xc0\xaf", "\uFFFD\uFFFD"},
	} {
		if got := string(whatwgUTF8([]byte(c.in))); got != c.want {
			t.Errorf("whatwgUTF8(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
