package proxy

import (
	"bytes"
	"regexp"
	"regexp/syntax"
)

// matcher is a compiled rule pattern. The common shapes of routing rules, an
// anchored literal prefix (`^sys\.cpu\.`) and a plain literal (`\.count`),
// are matched with bytes.HasPrefix / bytes.Contains, which cost a few ns
// where the regexp engine costs a hundred; everything else uses the regexp.
// Both give the same answers (TestMatcherAgreesWithRegexp).
type matcher struct {
	re       *regexp.Regexp
	prefix   []byte // when hasPrefix: match iff key starts with prefix
	contains []byte // when hasLit: match iff key contains it
	kind     matchKind
}

type matchKind uint8

const (
	matchRegexp matchKind = iota
	matchPrefix
	matchContains
)

func newMatcher(expr string) (*matcher, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	m := &matcher{re: re}
	st, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return m, nil
	}
	st = st.Simplify()
	isLit := func(s *syntax.Regexp) bool { return s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0 }
	switch {
	case isLit(st):
		m.kind, m.contains = matchContains, []byte(string(st.Rune))
	case st.Op == syntax.OpConcat && len(st.Sub) == 2 && st.Sub[0].Op == syntax.OpBeginText && isLit(st.Sub[1]):
		m.kind, m.prefix = matchPrefix, []byte(string(st.Sub[1].Rune))
	}
	return m, nil
}

func (m *matcher) Match(key []byte) bool {
	switch m.kind {
	case matchPrefix:
		return bytes.HasPrefix(key, m.prefix)
	case matchContains:
		return bytes.Contains(key, m.contains)
	}
	return m.re.Match(key)
}
