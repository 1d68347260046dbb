package expr

import (
	"fmt"
	"strings"
)

// maxOffset bounds an offset (about 35 million years) so sums cannot overflow.
const maxOffset = 1 << 50

// parseOffset parses a time offset such as "1h", "-5min" or "1d12h" into
// seconds, as graphite-web's parseTimeOffset reads it: an optional sign, then
// number-unit pairs; a unit is known by its prefix (s, min, h, d, w, mon =
// 30 days, y = 365 days).
func parseOffset(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	rest := s
	sign := int64(1)
	switch {
	case isDigit(rest[0]):
	case rest[0] == '+':
		rest = rest[1:]
	case rest[0] == '-':
		sign = -1
		rest = rest[1:]
	default:
		return 0, fmt.Errorf("invalid offset %q: it must start with a digit, + or -", s)
	}
	var total int64
	for rest != "" {
		i := 0
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid offset %q: expected a number at %q", s, rest)
		}
		var n int64
		for _, c := range rest[:i] {
			n = n*10 + int64(c-'0')
			if n > 1<<40 {
				return 0, fmt.Errorf("invalid offset %q: number too large", s)
			}
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && isLetter(rest[j]) {
			j++
		}
		unit, err := unitSeconds(rest[:j])
		if err != nil {
			return 0, fmt.Errorf("invalid offset %q: %w", s, err)
		}
		rest = rest[j:]
		total += sign * n * unit
		if total > maxOffset || total < -maxOffset {
			return 0, fmt.Errorf("invalid offset %q: more than %d seconds", s, int64(maxOffset))
		}
	}
	return total, nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// unitSeconds is graphite-web's getUnitString, in seconds.
func unitSeconds(u string) (int64, error) {
	switch {
	case strings.HasPrefix(u, "s"):
		return 1, nil
	case strings.HasPrefix(u, "min"):
		return 60, nil
	case strings.HasPrefix(u, "h"):
		return 3600, nil
	case strings.HasPrefix(u, "d"):
		return 86400, nil
	case strings.HasPrefix(u, "w"):
		return 7 * 86400, nil
	case strings.HasPrefix(u, "mon"):
		return 30 * 86400, nil
	case strings.HasPrefix(u, "y"):
		return 365 * 86400, nil
	}
	return 0, fmt.Errorf("unknown unit %q (want s, min, h, d, w, mon or y)", u)
}
