package expr

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// alias names every series newName.
func alias(c *call) ([]*Series, error) {
	name := c.str("newName", "")
	return renamed(c.seriesList("seriesList"), func(*Series) string { return name }), nil
}

// aliasByNode names every series by the nodes (dot-separated parts) of its
// name picked by index, negative from the end; for a name with a function in
// it, the nodes are those of the first path expression inside.
func aliasByNode(c *call) ([]*Series, error) {
	nodes := c.values("nodes")
	return renamed(c.seriesList("seriesList"), func(s *Series) string { return aggKey(s, nodes) }), nil
}

// aliasSub names every series by a regular-expression substitution on its
// name. search is a Python regular expression and replace a Python
// replacement (\1, \g<1>, \g<name>); both are translated to Go's.
func aliasSub(c *call) ([]*Series, error) {
	search, replace := c.str("search", ""), c.str("replace", "")
	re, err := compilePythonRegexp(search)
	if err != nil {
		return nil, err
	}
	tmpl, err := pythonReplacement(replace)
	if err != nil {
		return nil, err
	}
	return renamed(c.seriesList("seriesList"), func(s *Series) string {
		return re.ReplaceAllString(s.Name, tmpl)
	}), nil
}

// renamed returns copies of list named by name; the path expressions stay,
// as graphite-web's alias functions leave them.
func renamed(list []*Series, name func(*Series) string) []*Series {
	out := make([]*Series, len(list))
	for i, s := range list {
		cp := *s
		cp.Name = name(s)
		out[i] = &cp
	}
	return out
}

// aggKey joins the nodes of a series' name that nodes pick, as graphite-web's
// aggKey does: an integer picks a node (negative from the end; out of range
// gives ""), anything else names a tag, and this relay keeps no tags, so it
// gives "".
func aggKey(s *Series, nodes []value) string {
	path := s.Name
	if strings.HasSuffix(path, ")") {
		if p, ok := firstPathExpression(path); ok {
			path = p
		}
	}
	path, _, _ = strings.Cut(path, ";")
	parts := strings.Split(path, ".")
	keys := make([]string, len(nodes))
	for i, n := range nodes {
		if !isInteger(n) {
			continue
		}
		idx := int(n.num.Value)
		if idx < 0 {
			idx += len(parts)
		}
		if idx >= 0 && idx < len(parts) {
			keys[i] = parts[idx]
		}
	}
	return strings.Join(keys, ".")
}

// firstPathExpression finds the path expression a function-wrapped name
// starts with ("a.b.*" in "sumSeries(a.b.*)"), following first arguments.
// Like graphite-web's parser it reads the longest valid prefix.
func firstPathExpression(name string) (string, bool) {
	p := &parser{src: name}
	p.skipSpace()
	e, err := p.expression(0)
	if err != nil {
		return "", false
	}
	for {
		switch x := e.(type) {
		case *PathExpr:
			return x.Pattern, true
		case *CallExpr:
			if len(x.Args) == 0 {
				return "", false
			}
			e = x.Args[0]
		default:
			return "", false
		}
	}
}

// compilePythonRegexp compiles a Python regular expression with Go's regexp,
// after translating what differs in spelling (\Z); constructs RE2 lacks
// (lookarounds, backreferences) are an error naming the pattern.
func compilePythonRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '\\' && i+1 < len(pattern) {
			if pattern[i+1] == 'Z' {
				b.WriteString(`\z`)
			} else {
				b.WriteByte(c)
				b.WriteByte(pattern[i+1])
			}
			i++
			continue
		}
		b.WriteByte(c)
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("failed to compile regular expression %q: %w", pattern, err)
	}
	return re, nil
}

// pyEscapes are the escapes a Python replacement string turns into characters.
var pyEscapes = map[byte]string{'n': "\n", 't': "\t", 'r': "\r", 'f': "\f", 'v': "\v", 'a': "\a", 'b': "\b", '\\': `\`}

// pythonReplacement translates a Python re.sub replacement (\1, \12, \g<1>,
// \g<name>, \n, \\) into a template for Go's Regexp.Expand ($ doubled).
func pythonReplacement(repl string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		switch {
		case c == '$':
			b.WriteString("$$")
			continue
		case c != '\\':
			b.WriteByte(c)
			continue
		case i+1 == len(repl):
			return "", fmt.Errorf("bad replacement %q: a trailing backslash", repl)
		}
		next := repl[i+1]
		switch {
		case isDigit(next):
			j := i + 2
			if j < len(repl) && isDigit(repl[j]) {
				j++
			}
			fmt.Fprintf(&b, "${%s}", repl[i+1:j])
			i = j - 1
		case next == 'g':
			end := strings.IndexByte(repl[i:], '>')
			if i+2 >= len(repl) || repl[i+2] != '<' || end < 0 {
				return "", fmt.Errorf("bad replacement %q: \\g must be followed by <group>", repl)
			}
			group := repl[i+3 : i+end]
			if _, err := strconv.Atoi(group); err != nil && !isGroupName(group) {
				return "", fmt.Errorf("bad replacement %q: bad group name %q", repl, group)
			}
			fmt.Fprintf(&b, "${%s}", group)
			i += end
		case pyEscapes[next] != "":
			b.WriteString(pyEscapes[next])
			i++
		case isLetter(next):
			return "", fmt.Errorf("bad replacement %q: unknown escape \\%c", repl, next)
		default:
			b.WriteByte('\\')
			b.WriteByte(next)
			i++
		}
	}
	return b.String(), nil
}

func isGroupName(s string) bool {
	return s != "" && isIdentStart(s[0]) && !slices.ContainsFunc([]byte(s), func(c byte) bool { return !isIdent(c) })
}
