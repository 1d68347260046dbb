package line

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Every reason a format's parser gives is one of FormatReasons(format):
// the listener's invalid series are made for those only.
func TestFormatReasonsCoverTheParsers(t *testing.T) {
	parts := []string{"a.b", " ", "  ", "1", "-1", "x", "1e9", "nan", "|c", "|ms", "|g", "|s", "|x", "|@0.5", "|@x", "|@-1", ":", "\x01", "\t", ";t=v", "|#a:b", "1700000000", "-5", "."}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, format := range []string{FormatGraphite, FormatStatsd, FormatRegex} {
		cfg := FormatConfig{Format: format}
		if format == FormatRegex {
			cfg.Regex = `^(?P<Key>[^ ]*) `
		}
		f, err := NewFormat(cfg)
		if err != nil {
			t.Fatal(err)
		}
		allowed := FormatReasons(format)
		seen := map[Reason]bool{}
		for range 20000 {
			var ln []byte
			for range 1 + rng.IntN(5) {
				ln = append(ln, parts[rng.IntN(len(parts))]...)
			}
			_, r := f.Key(nil, ln)
			if r == OK || r == Empty {
				continue
			}
			seen[r] = true
			if !slices.Contains(allowed, r) {
				t.Errorf("%s refuses %q for %s, which FormatReasons(%q) lacks", format, ln, r, format)
			}
		}
		if len(seen) < 2 {
			t.Errorf("%s: only %v refused: the corpus does not exercise the parser", format, seen)
		}
	}
}
