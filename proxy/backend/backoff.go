package backend

import "time"

// backoff is the wait before the reconnect that follows attempt consecutive
// failures (0-based): min·2^attempt capped at max, with equal jitter (half
// fixed, half scaled by u in [0,1)), so it lies in [d/2, d] and never
// exceeds max.
func backoff(attempt int, min, max time.Duration, u float64) time.Duration {
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	if u < 0 {
		u = 0
	}
	if u > 1 {
		u = 1
	}
	half := d / 2
	return half + time.Duration(u*float64(d-half))
}
