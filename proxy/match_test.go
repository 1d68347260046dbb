package proxy

import "testing"

func TestMatcherAgreesWithRegexp(t *testing.T) {
	keys := []string{"", "test", "test.x", "xtest.x", "sys.cpu.0", "SYS.cpu", "a.count", "a.count.b", "é.test.", "test\n"}
	for _, expr := range []string{`^test\.`, `test\.`, `^sys\.cpu`, `\.count`, `(?i)^sys`, `^a.*b`, `^test\.$`, `^é`, `x|y`, `^`} {
		m, err := newMatcher(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if got, want := m.Match([]byte(k)), m.re.MatchString(k); got != want {
				t.Errorf("pattern %q on %q: fast path says %v, regexp %v", expr, k, got, want)
			}
		}
	}
	for expr, kind := range map[string]matchKind{`^test\.`: matchPrefix, `\.count`: matchContains, `(?i)^sys`: matchRegexp, `^a.*b`: matchRegexp} {
		if m, _ := newMatcher(expr); m.kind != kind {
			t.Errorf("pattern %q uses matcher kind %d, want %d", expr, m.kind, kind)
		}
	}
}

func FuzzMatcher(f *testing.F) {
	f.Add(`^test\.`, "test.x")
	f.Add(`\.count`, "a.count")
	f.Add(`^a.*b`, "axxb")
	f.Fuzz(func(t *testing.T, expr, key string) {
		m, err := newMatcher(expr)
		if err != nil {
			return
		}
		if got, want := m.Match([]byte(key)), m.re.MatchString(key); got != want {
			t.Fatalf("pattern %q on %q: fast path %v, regexp %v", expr, key, got, want)
		}
	})
}
