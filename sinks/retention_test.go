package sinks

import (
	"strings"
	"testing"
	"time"
)

// TestCheckRetentions: what every sink kind refuses, named by entry; what
// ParseTimes returns passes.
func TestCheckRetentions(t *testing.T) {
	ret := func(res, keep time.Duration) Retention { return Retention{Resolution: res, Retention: keep} }
	for _, tc := range []struct {
		rets []Retention
		want string
	}{
		{nil, "at least one"},
		{[]Retention{ret(500*time.Millisecond, time.Hour)}, "times[0] 500ms:1h0m0s: resolution must be a whole number of seconds"},
		{[]Retention{ret(10*time.Second, 5*time.Second)}, "times[0] 10s:5s: retention must be at least the resolution"},
		{[]Retention{ret(time.Minute, time.Hour), ret(10*time.Second, time.Hour)}, "times[1] 10s:1h0m0s: resolution 10s must be a multiple of the previous one (1m0s)"},
		{[]Retention{ret(10*time.Second, time.Hour), ret(15*time.Second, time.Hour)}, "times[1] 15s:1h0m0s: resolution 15s must be a multiple"},
		{[]Retention{ret(10*time.Second, time.Hour), ret(10*time.Second, 2*time.Hour)}, "times[1] 10s:2h0m0s: resolution 10s must be a multiple"},
	} {
		if err := CheckRetentions(tc.rets); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckRetentions(%v) = %v, want an error containing %q", tc.rets, err, tc.want)
		}
	}
	rets, err := ParseTimes(DefaultTimes())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRetentions(rets); err != nil {
		t.Errorf("the default times: %v", err)
	}
}
