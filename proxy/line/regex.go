package line

import (
	"fmt"
	"regexp"
)

// keyGroup is the name of the capture group that holds the key.
const keyGroup = "Key"

// regexFormat takes the key from the named group Key of a Go regular
// expression. *regexp.Regexp is safe for concurrent use, so is this.
//
// It is off the allocation-free path: regexp's FindSubmatchIndex allocates
// the index slice, one allocation per line (2*(groups+1) ints); see
// BenchmarkRegexKey for the cost.
type regexFormat struct {
	re  *regexp.Regexp
	idx int // index of the Key group
}

var _ Format = (*regexFormat)(nil)

// newRegexFormat compiles expr and finds its (?P<Key>...) group.
func newRegexFormat(expr string) (*regexFormat, error) {
	if expr == "" {
		return nil, fmt.Errorf("failed to build regex format: regex is empty; want an expression with a (?P<%s>...) group", keyGroup)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("failed to compile regex %q: %w", expr, err)
	}
	idx := re.SubexpIndex(keyGroup)
	if idx < 0 {
		return nil, fmt.Errorf("failed to build regex format from %q: it has no (?P<%s>...) group to take the key from", expr, keyGroup)
	}
	return &regexFormat{re: re, idx: idx}, nil
}

func (f *regexFormat) Name() string { return "regex" }

// Key returns the text the Key group matched, a view into line; dst is not
// used. No match, or a match that leaves the Key group unset, is NoMatch; an
// empty Key is NoKey; a control character in the key is BadChar.
func (f *regexFormat) Key(_, line []byte) ([]byte, Reason) {
	if len(line) == 0 {
		return nil, Empty
	}
	m := f.re.FindSubmatchIndex(line)
	if m == nil || m[2*f.idx] < 0 {
		return nil, NoMatch
	}
	key := line[m[2*f.idx]:m[2*f.idx+1]]
	if len(key) == 0 {
		return key, NoKey
	}
	if !ctlFree(key) {
		return key, BadChar
	}
	return key, OK
}
