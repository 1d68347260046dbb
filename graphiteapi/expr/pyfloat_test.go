package expr

import (
	"math"
	"testing"
)

// The expected strings and numbers are what Python 3.11 prints for the same
// input (str(), "%g", round(x, 6)).

func TestPyFloatStr(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{100, "100.0"}, {1e16, "1e+16"}, {1234567890123456, "1234567890123456.0"}, {0.0001, "0.0001"},
		{0.00001, "1e-05"}, {-200, "-200.0"}, {1.5, "1.5"}, {math.Nextafter(0.3, 1), "0.30000000000000004"}, {0, "0.0"},
		{math.Inf(1), "inf"},
	} {
		if got := pyFloatStr(tc.in); got != tc.want {
			t.Errorf("pyFloatStr(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPyG(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{2, "2"}, {0.5, "0.5"}, {-1500, "-1500"}, {1e6, "1e+06"}, {1234567, "1.23457e+06"}, {100000, "100000"},
		{0.00001234, "1.234e-05"}, {0.0001, "0.0001"}, {0, "0"},
	} {
		if got := pyG(tc.in); got != tc.want {
			t.Errorf("pyG(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRound6(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0.1234565, 0.123456}, {1e-7, 0}, {2.5e-6, 3e-06}, {1.0000005, 1.000001}, {-0.3333333, -0.333333},
	} {
		if got := round6(tc.in); got != tc.want {
			t.Errorf("round6(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(round6(math.NaN())) {
		t.Error("round6(NaN) is not NaN")
	}
}

func TestPyMod(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{{7, 3, 1}, {-7, 3, 2}, {6, 3, 0}, {-6, 3, 0}} {
		if got := pyMod(tc.a, tc.b); got != tc.want {
			t.Errorf("pyMod(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
