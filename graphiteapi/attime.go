package graphiteapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseATTime reads a time as graphite-web's render/attime.py does
// ("at-style"): epoch seconds ("1700000000"), a reference with an optional
// offset ("now", "-1h", "now-5min", "today", "yesterday", "noon",
// "midnight+2h", "12:00_20261129", "20261129", "3pm", "11/29/26",
// "nov29", "monday") read in loc, with now as the reference for "now" and
// for every day reference that names no date. Case, "_", "," and spaces
// are ignored as graphite-web ignores them. Offsets are
// "[+-]<n><unit>..." with unit prefixes s, min, h, d, w, mon (30 d), y
// (365 d); a bare "m" is refused, as graphite-web refuses it.
func ParseATTime(s string, loc *time.Location, now time.Time) (time.Time, error) {
	s = strings.NewReplacer("_", "", ",", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	if s == "" {
		return now, nil
	}
	if isDigits(s) && !looksLikeYYYYMMDD(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("epoch %q: %w", s, err)
		}
		return time.Unix(n, 0).In(loc), nil
	}
	ref, offset := s, ""
	if i := strings.IndexByte(s, '+'); i >= 0 {
		ref, offset = s[:i], s[i:]
	} else if i := strings.IndexByte(s, '-'); i >= 0 {
		ref, offset = s[:i], s[i:]
	}
	t, err := parseTimeReference(ref, loc, now)
	if err != nil {
		return time.Time{}, err
	}
	d, err := parseTimeOffset(offset)
	if err != nil {
		return time.Time{}, err
	}
	return t.Add(d), nil
}

// looksLikeYYYYMMDD is graphite-web's test for an 8-digit date that is
// not an epoch.
func looksLikeYYYYMMDD(s string) bool {
	if len(s) != 8 {
		return false
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[4:6])
	d, _ := strconv.Atoi(s[6:])
	return y > 1900 && m < 13 && d < 32
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var (
	monthNames   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// parseTimeReference reads the part before the offset: a time of day
// ("HH:MM", "Xam", "Xpm", "noon", "midnight", "teatime") and a day
// ("today", "yesterday", "tomorrow", "MM/DD/YY", "YYYYMMDD", "<month><day>",
// "<weekday>"), each optional.
func parseTimeReference(ref string, loc *time.Location, now time.Time) (time.Time, error) {
	if ref == "" || ref == "now" {
		return now, nil
	}
	raw := ref
	bad := func(format string, args ...any) (time.Time, error) {
		return time.Time{}, fmt.Errorf("time reference %q: %s", raw, fmt.Sprintf(format, args...))
	}
	hour, minute := 0, 0
	if i := strings.IndexByte(ref, ':'); i > 0 && i < 3 {
		h, err1 := strconv.Atoi(ref[:i])
		end := min(i+3, len(ref))
		m, err2 := strconv.Atoi(ref[i+1 : end])
		if err1 != nil || err2 != nil {
			return bad("want HH:MM before the date")
		}
		hour, minute, ref = h, m, ref[end:]
		if strings.HasPrefix(ref, "am") {
			ref = ref[2:]
		} else if strings.HasPrefix(ref, "pm") {
			hour, ref = (hour+12)%24, ref[2:]
		}
	}
	if i := strings.Index(ref, "am"); i > 0 && i < 3 {
		h, err := strconv.Atoi(ref[:i])
		if err != nil {
			return bad("want an hour before \"am\"")
		}
		hour, ref = h, ref[i+2:]
	}
	if i := strings.Index(ref, "pm"); i > 0 && i < 3 {
		h, err := strconv.Atoi(ref[:i])
		if err != nil {
			return bad("want an hour before \"pm\"")
		}
		hour, ref = (h+12)%24, ref[i+2:]
	}
	switch {
	case strings.HasPrefix(ref, "noon"):
		hour, minute, ref = 12, 0, ref[4:]
	case strings.HasPrefix(ref, "midnight"):
		hour, minute, ref = 0, 0, ref[8:]
	case strings.HasPrefix(ref, "teatime"):
		hour, minute, ref = 16, 0, ref[7:]
	}
	if hour > 23 || minute > 59 {
		return bad("time of day %02d:%02d is out of range", hour, minute)
	}
	now = now.In(loc)
	date := func(y int, m time.Month, d int) (time.Time, error) {
		t := time.Date(y, m, d, hour, minute, 0, 0, loc)
		if t.Year() != y || t.Month() != m || t.Day() != d {
			return bad("%04d-%02d-%02d is not a date", y, m, d)
		}
		return t, nil
	}
	// dayOf is the time of day on now's date moved by days, on the wall
	// clock (as graphite-web moves its naive refDate).
	y, m, d := now.Date()
	dayOf := func(days int) (time.Time, error) {
		return time.Date(y, m, d+days, hour, minute, 0, 0, loc), nil
	}
	switch {
	case ref == "" || ref == "today":
		return dayOf(0)
	case ref == "yesterday":
		return dayOf(-1)
	case ref == "tomorrow":
		return dayOf(1)
	case strings.Count(ref, "/") == 2:
		parts := strings.Split(ref, "/")
		mm, err1 := strconv.Atoi(parts[0])
		dd, err2 := strconv.Atoi(parts[1])
		yy, err3 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || err3 != nil {
			return bad("want MM/DD/YY")
		}
		if yy < 1900 {
			yy += 1900
		}
		if yy < 1970 {
			yy += 100
		}
		return date(yy, time.Month(mm), dd)
	case len(ref) == 8 && isDigits(ref):
		yy, _ := strconv.Atoi(ref[:4])
		mm, _ := strconv.Atoi(ref[4:6])
		dd, _ := strconv.Atoi(ref[6:])
		return date(yy, time.Month(mm), dd)
	case len(ref) >= 3 && indexOf(monthNames, ref[:3]) >= 0:
		day := 0
		switch {
		case len(ref) >= 2 && isDigits(ref[len(ref)-2:]):
			day, _ = strconv.Atoi(ref[len(ref)-2:])
		case isDigits(ref[len(ref)-1:]):
			day, _ = strconv.Atoi(ref[len(ref)-1:])
		default:
			return bad("day of month required after month name")
		}
		return date(y, time.Month(indexOf(monthNames, ref[:3])+1), day)
	case len(ref) >= 3 && indexOf(weekdayNames, ref[:3]) >= 0:
		back := (int(now.Weekday()) - indexOf(weekdayNames, ref[:3]) + 7) % 7
		return dayOf(-back)
	}
	return bad("unknown day reference")
}

func indexOf(names []string, s string) int {
	for i, n := range names {
		if n == s {
			return i
		}
	}
	return -1
}

// maxOffset bounds an offset (time.Duration holds ±292 years).
const maxOffset = 200 * 365 * 24 * time.Hour

// parseTimeOffset reads "[+-]<n><unit>[<n><unit>...]", one sign for all.
func parseTimeOffset(offset string) (time.Duration, error) {
	if offset == "" {
		return 0, nil
	}
	raw := offset
	sign := time.Duration(1)
	switch offset[0] {
	case '+':
		offset = offset[1:]
	case '-':
		sign, offset = -1, offset[1:]
	}
	var total time.Duration
	for offset != "" {
		i := 0
		for i < len(offset) && offset[i] >= '0' && offset[i] <= '9' {
			i++
		}
		n, err := strconv.ParseInt(offset[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("offset %q: want a number before each unit", raw)
		}
		offset = offset[i:]
		j := 0
		for j < len(offset) && (offset[j] >= 'a' && offset[j] <= 'z') {
			j++
		}
		unit, err := offsetUnit(offset[:j])
		if err != nil {
			return 0, fmt.Errorf("offset %q: %w", raw, err)
		}
		offset = offset[j:]
		if n > int64(maxOffset/unit) {
			return 0, fmt.Errorf("offset %q: too large (at most %d years)", raw, maxOffset/(365*24*time.Hour))
		}
		total += sign * time.Duration(n) * unit
		if total > maxOffset || total < -maxOffset {
			return 0, fmt.Errorf("offset %q: too large (at most %d years)", raw, maxOffset/(365*24*time.Hour))
		}
	}
	return total, nil
}

// offsetUnit maps a unit by its prefix, in graphite-web's order.
func offsetUnit(u string) (time.Duration, error) {
	const day = 24 * time.Hour
	switch {
	case strings.HasPrefix(u, "s"):
		return time.Second, nil
	case strings.HasPrefix(u, "min"):
		return time.Minute, nil
	case strings.HasPrefix(u, "h"):
		return time.Hour, nil
	case strings.HasPrefix(u, "d"):
		return day, nil
	case strings.HasPrefix(u, "w"):
		return 7 * day, nil
	case strings.HasPrefix(u, "mon"):
		return 30 * day, nil
	case strings.HasPrefix(u, "y"):
		return 365 * day, nil
	}
	return 0, fmt.Errorf("invalid unit %q (want s, min, h, d, w, mon or y; \"m\" is ambiguous)", u)
}
