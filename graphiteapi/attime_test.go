package graphiteapi

import (
	"strings"
	"testing"
	"time"
)

func TestParseATTime(t *testing.T) {
	// now: Sunday 2026-11-29 22:15:30 UTC.
	now := time.Date(2026, 11, 29, 22, 15, 30, 0, time.UTC)
	at := func(y int, m time.Month, d, h, min, s int) time.Time {
		return time.Date(y, m, d, h, min, s, 0, time.UTC)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"now", now},
		{"", now},
		{"NOW", now},
		{"1700000000", time.Unix(1700000000, 0)},
		{"-1h", now.Add(-time.Hour)},
		{"-2d", now.Add(-48 * time.Hour)},
		{"-5min", now.Add(-5 * time.Minute)},
		{"now-5min", now.Add(-5 * time.Minute)},
		{"-30s", now.Add(-30 * time.Second)},
		{"-10seconds", now.Add(-10 * time.Second)},
		{"-1w", now.Add(-7 * 24 * time.Hour)},
		{"-1mon", now.Add(-30 * 24 * time.Hour)},
		{"-1y", now.Add(-365 * 24 * time.Hour)},
		{"-1h30min", now.Add(-90 * time.Minute)},
		{"now+1h", now.Add(time.Hour)},
		{"+1d", now.Add(24 * time.Hour)},
		{"today", at(2026, 11, 29, 0, 0, 0)},
		{"yesterday", at(2026, 11, 28, 0, 0, 0)},
		{"tomorrow", at(2026, 11, 30, 0, 0, 0)},
		{"midnight", at(2026, 11, 29, 0, 0, 0)},
		{"noon", at(2026, 11, 29, 12, 0, 0)},
		{"noonyesterday", at(2026, 11, 28, 12, 0, 0)},
		{"noon yesterday", at(2026, 11, 28, 12, 0, 0)},
		{"midnight+2h", at(2026, 11, 29, 2, 0, 0)},
		{"teatime", at(2026, 11, 29, 16, 0, 0)},
		{"12:00_20261129", at(2026, 11, 29, 12, 0, 0)},
		{"04:30_20250102", at(2025, 1, 2, 4, 30, 0)},
		{"20250102", at(2025, 1, 2, 0, 0, 0)},
		{"20250102-1d", at(2025, 1, 1, 0, 0, 0)},
		{"3pm", at(2026, 11, 29, 15, 0, 0)},
		{"11am", at(2026, 11, 29, 11, 0, 0)},
		{"8:15pm", at(2026, 11, 29, 20, 15, 0)},
		{"11/28/26", at(2026, 11, 28, 0, 0, 0)},
		{"01/02/2025", at(2025, 1, 2, 0, 0, 0)},
		{"feb3", at(2026, 2, 3, 0, 0, 0)},
		{"december25", at(2026, 12, 25, 0, 0, 0)},
		{"friday", at(2026, 11, 27, 0, 0, 0)},
		{"sunday", at(2026, 11, 29, 0, 0, 0)},
		{"monday", at(2026, 11, 23, 0, 0, 0)},
	} {
		got, err := ParseATTime(tc.in, time.UTC, now)
		if err != nil {
			t.Errorf("ParseATTime(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("ParseATTime(%q) = %s, want %s", tc.in, got.UTC(), tc.want)
		}
	}
}

// Day references are read in the zone given: at 23:30 UTC it is already
// the next day in Berlin, whose midnight is 23:00 UTC in winter.
func TestParseATTimeZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	now := time.Date(2026, 11, 29, 23, 30, 0, 0, time.UTC)
	got, err := ParseATTime("midnight", berlin, now)
	want := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC) // 00:00 on the 30th in Berlin
	if err != nil || !got.Equal(want) {
		t.Errorf("midnight in Berlin at %s = %s, %v; want %s", now, got.UTC(), err, want)
	}
}

func TestParseATTimeErrors(t *testing.T) {
	now := time.Date(2026, 11, 29, 22, 15, 30, 0, time.UTC)
	for _, tc := range []struct{ in, want string }{
		{"-5m", `invalid unit "m"`},
		{"-1fortnight", `invalid unit "fortnight"`},
		{"-h", "want a number"},
		{"soon", `unknown day reference`},
		{"25:00_20261129", "out of range"},
		{"20260230", "not a date"},
		{"-99999999999y", "too large"},
		{"02/30/26", "not a date"},
		{"feb", "day of month required"},
	} {
		_, err := ParseATTime(tc.in, time.UTC, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseATTime(%q): error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

// FuzzParseATTime checks that no input panics and that case does not
// matter, as graphite-web lower-cases first.
func FuzzParseATTime(f *testing.F) {
	for _, s := range []string{"now", "-1h", "12:00_20261129", "noonyesterday", "feb3", "1700000000", "11/28/26", "-1h30min", "3pm+2d"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 29, 22, 15, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		a, errA := ParseATTime(s, time.UTC, now)
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return // upper-casing may change the length of non-ASCII text
			}
		}
		b, errB := ParseATTime(strings.ToUpper(s), time.UTC, now)
		if (errA == nil) != (errB == nil) || errA == nil && !a.Equal(b) {
			t.Errorf("ParseATTime(%q) = %v, %v but upper-cased %v, %v", s, a, errA, b, errB)
		}
	})
}
