package backend

import (
	"testing"
	"time"
)

func TestBackoffCappedWithJitter(t *testing.T) {
	min, max := 100*time.Millisecond, 10*time.Second
	cases := []struct {
		attempt int
		u       float64
		want    time.Duration
	}{
		{0, 0, 50 * time.Millisecond},
		{0, 1, 100 * time.Millisecond},
		{1, 0, 100 * time.Millisecond},
		{1, 0.5, 150 * time.Millisecond},
		{3, 1, 800 * time.Millisecond},
		{6, 1, 6400 * time.Millisecond},
		{7, 1, 10 * time.Second}, // 12.8s capped
		{7, 0, 5 * time.Second},
		{1000, 1, 10 * time.Second}, // no overflow
		{1000, 0.25, 6250 * time.Millisecond},
	}
	for _, tc := range cases {
		if got := backoff(tc.attempt, min, max, tc.u); got != tc.want {
			t.Errorf("backoff(attempt=%d, u=%v) = %s, want %s", tc.attempt, tc.u, got, tc.want)
		}
	}
	prev := time.Duration(0)
	for a := range 200 {
		for _, u := range []float64{0, 0.3, 0.999999} {
			if got := backoff(a, min, max, u); got > max || got < min/2 {
				t.Fatalf("backoff(attempt=%d, u=%v) = %s, want within [%s, %s]", a, u, got, min/2, max)
			}
		}
		if got := backoff(a, min, max, 1); got < prev {
			t.Fatalf("backoff(attempt=%d) = %s, shorter than attempt %d (%s)", a, got, a-1, prev)
		}
		prev = backoff(a, min, max, 1)
	}
}
