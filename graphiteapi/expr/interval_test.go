package expr

import (
	"strings"
	"testing"
)

// The expected seconds are what graphite-web's parseTimeOffset gives.
func TestParseOffset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1h", 3600}, {"-5min", -300}, {"+30s", 30}, {"1d12h", 129600}, {"2w", 1209600}, {"1mon", 2592000},
		{"1y", 31536000}, {"90seconds", 90}, {"3hours", 10800}, {"10minutes", 600}, {"", 0},
	} {
		got, err := parseOffset(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseOffset(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"5m", `unknown unit "m"`}, {"1x", `unknown unit "x"`}, {"h", "it must start with a digit"},
		{"1h-", `expected a number at "-"`}, {"99999999999999y", "too large"}, {"1000000000y", "more than"},
	} {
		_, err := parseOffset(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.in) {
			t.Errorf("parseOffset(%q): got %v, want an error naming it and containing %q", tc.in, err, tc.msg)
		}
	}
}
