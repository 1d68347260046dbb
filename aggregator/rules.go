package aggregator

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Method is how the values of one interval (or the statistics of one bin)
// become the single value of a graphite line. The carbon-aggregator rule
// methods are sum, avg, min, max, count and p50, p75, p80, p90, p95, p99,
// p999; MethodAvg is the zero value.
type Method uint8

// The methods, named as in carbon-aggregator's aggregation-rules.conf.
const (
	MethodAvg Method = iota
	MethodSum
	MethodMin
	MethodMax
	MethodCount
	MethodP50
	MethodP75
	MethodP80
	MethodP90
	MethodP95
	MethodP99
	MethodP999
	numMethods
)

var methodNames = [numMethods]string{"avg", "sum", "min", "max", "count", "p50", "p75", "p80", "p90", "p95", "p99", "p999"}

// percentile factors of MethodP50..MethodP999, as carbon's rules.py has them.
var methodFactors = [numMethods]float64{MethodP50: 0.50, MethodP75: 0.75, MethodP80: 0.80,
	MethodP90: 0.90, MethodP95: 0.95, MethodP99: 0.99, MethodP999: 0.999}

// String returns the method's name in aggregation-rules.conf ("p90").
func (m Method) String() string {
	if m < numMethods {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// ParseMethod reads a method name as aggregation-rules.conf writes it.
func ParseMethod(s string) (Method, error) {
	for i, n := range methodNames {
		if n == s {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("invalid aggregation method %q, allowed: %s", s, strings.Join(methodNames[:], ", "))
}

// isPercentile reports whether m needs every value, not just a bin's
// count, sum, min and max.
func (m Method) isPercentile() bool { return m >= MethodP50 && m < numMethods }

// apply computes m over vals as carbon's AGGREGATION_METHODS do (Python
// 3.11: sum adds left to right from 0; min and max keep the first of equal
// values; percentiles sort and interpolate). vals must not be empty; a
// percentile sorts vals in place.
func (m Method) apply(vals []float64) float64 {
	switch m {
	case MethodSum:
		return pySum(vals)
	case MethodAvg:
		return pySum(vals) / float64(len(vals))
	case MethodMin:
		r := vals[0]
		for _, v := range vals[1:] {
			if v < r {
				r = v
			}
		}
		return r
	case MethodMax:
		r := vals[0]
		for _, v := range vals[1:] {
			if v > r {
				r = v
			}
		}
		return r
	case MethodCount:
		return float64(len(vals))
	}
	sortFloats(vals)
	rank := methodFactors[m] * float64(len(vals)-1)
	left, right := math.Floor(rank), math.Ceil(rank)
	if left == right {
		return vals[int(left)]
	}
	// values[l]*(r-rank) + values[r]*(rank-l); the conversions forbid a
	// fused multiply-add, which Python does not do either.
	return float64(vals[int(left)]*(right-rank)) + float64(vals[int(right)]*(rank-left))
}

func pySum(vals []float64) float64 {
	s := 0.0
	for _, v := range vals {
		s += v
	}
	return s
}

// sortFloats sorts ascending as Python's sorted does for values without NaN
// (the aggregator never holds NaN: carbon's receiver drops NaN points).
func sortFloats(v []float64) { slices.Sort(v) }

// Rules is a parsed aggregation-rules.conf of graphite-carbon 1.1.7's
// carbon-aggregator. It is immutable and safe for concurrent use.
type Rules struct {
	rules []rule
}

// rule is one line: output_template (frequency) = method input_pattern.
type rule struct {
	line      int // 1-based line in the text
	text      string
	re        *regexp.Regexp
	names     []string // re.SubexpNames()
	tmpl      []tmplPart
	method    Method
	frequency int64
}

// tmplPart is a literal (group < 0) or a named group of the input pattern.
type tmplPart struct {
	lit   string
	group int
}

// RuleMatch is what one rule makes of an input path.
type RuleMatch struct {
	Output    string // the aggregate metric's path
	Method    Method
	Frequency int64 // seconds
	Line      int   // the rule's line in the text given to ParseRules
}

// Len returns the number of rules.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return len(r.rules)
}

// ParseRules parses aggregation-rules.conf text as carbon's RuleManager
// does: lines end at "\n", "\r\n" or "\r"; each is stripped of white space;
// blank lines and lines starting with '#' are skipped; every other line is
//
//	output_template (frequency) = method input_pattern
//
// split at the first '=', each side into exactly two white-space separated
// fields; frequency is an integer with optional parentheses.
//
// The input pattern becomes a regular expression part by part (parts are
// separated by '.'): a part with "<<name>>" captures one or more characters
// including dots (".+?"), a part with "<name>" one or more characters
// without dots ("[^.]+?"), a part "*" is "[^.]+", and any other part is a
// regular expression in which '*' means "[^.]*". The parts are joined with
// "\." and "$" is appended; the expression must match from the start of the
// path. The output template replaces each "<name>" by what that group
// captured.
//
// Where carbon would accept a rule and then fail on every metric it
// matches, ParseRules refuses it: a frequency below 1, an output template
// naming a group the input pattern lacks (an output "<<name>>" is one),
// a '%' in the template other than "%%". Regular-expression parts are Go
// (RE2) syntax, which agrees with Python's for the usual constructs but has
// no look-arounds or back-references (refused) and whose \d, \w, \s are
// ASCII only. The error names the line.
func ParseRules(text string) (*Rules, error) {
	rs := &Rules{}
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimFunc(l, isPySpace)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		r, err := parseRule(l)
		if err != nil {
			return nil, fmt.Errorf("failed to parse aggregation rule on line %d %q: %w", i+1, l, err)
		}
		r.line = i + 1
		rs.rules = append(rs.rules, r)
	}
	return rs, nil
}

// isPySpace is Python's str.isspace for one character.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

func parseRule(l string) (rule, error) {
	left, right, ok := strings.Cut(l, "=")
	if !ok {
		return rule{}, fmt.Errorf("no '=' (want `output_template (frequency) = method input_pattern`)")
	}
	lf, rf := strings.FieldsFunc(left, isPySpace), strings.FieldsFunc(right, isPySpace)
	if len(lf) != 2 {
		return rule{}, fmt.Errorf("left of '=' has %d fields, want 2: output_template (frequency)", len(lf))
	}
	if len(rf) != 2 {
		return rule{}, fmt.Errorf("right of '=' has %d fields, want 2: method input_pattern", len(rf))
	}
	freq, err := pyInt(strings.TrimRight(strings.TrimLeft(lf[1], "("), ")"))
	if err != nil {
		return rule{}, fmt.Errorf("frequency %q: %w", lf[1], err)
	}
	if freq < 1 {
		return rule{}, fmt.Errorf("frequency %q: must be at least 1 (seconds)", lf[1])
	}
	m, err := ParseMethod(rf[0])
	if err != nil {
		return rule{}, err
	}
	r := rule{text: l, method: m, frequency: freq}
	src, err := buildRegex(rf[1])
	if err != nil {
		return rule{}, fmt.Errorf("input pattern %q: %w", rf[1], err)
	}
	if r.re, err = regexp.Compile(`\A(?:` + src + `)`); err != nil {
		return rule{}, fmt.Errorf("input pattern %q: regular expression %q: %w", rf[1], src, err)
	}
	r.names = r.re.SubexpNames()
	seen := map[string]bool{}
	for _, n := range r.names {
		if n != "" && seen[n] {
			return rule{}, fmt.Errorf("input pattern %q: group <%s> appears twice", rf[1], n)
		}
		seen[n] = true
	}
	if r.tmpl, err = buildTemplate(lf[0], r.names); err != nil {
		return rule{}, fmt.Errorf("output template %q: %w", lf[0], err)
	}
	return r, nil
}

// pyInt parses what Python's int() accepts of ASCII: an optional sign and
// decimal digits, with single '_' between digits.
func pyInt(s string) (int64, error) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" {
		return 0, fmt.Errorf("not an integer")
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' && i > 0 && i+1 < len(s) && s[i-1] != '_' && s[i+1] != '_' {
			continue
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not an integer")
		}
		if n > (math.MaxInt32-int64(c-'0'))/10 {
			return 0, fmt.Errorf("too large")
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// buildRegex is carbon's AggregationRule.build_regex.
func buildRegex(pattern string) (string, error) {
	parts := strings.Split(pattern, ".")
	out := make([]string, len(parts))
	for k, p := range parts {
		if strings.Contains(p, "<<") && strings.Contains(p, ">>") {
			i, j := strings.Index(p, "<<"), strings.Index(p, ">>")
			if j < i+2 {
				return "", fmt.Errorf("part %q: '>>' before '<<'", p)
			}
			name := p[i+2 : j]
			if !pyIdent(name) {
				return "", fmt.Errorf("part %q: %q is not a group name", p, name)
			}
			out[k] = p[:i] + "(?P<" + name + ">.+?)" + p[j+2:]
			continue
		}
		i, j := strings.IndexByte(p, '<'), strings.IndexByte(p, '>')
		switch {
		case i > -1 && j > i:
			name := p[i+1 : j]
			if !pyIdent(name) {
				return "", fmt.Errorf("part %q: %q is not a group name", p, name)
			}
			out[k] = p[:i] + "(?P<" + name + ">[^.]+?)" + p[j+1:]
		case p == "*":
			out[k] = "[^.]+"
		default:
			out[k] = strings.ReplaceAll(p, "*", "[^.]*")
		}
	}
	return strings.Join(out, `\.`) + "$", nil
}

// pyIdent reports whether s is an ASCII Python identifier (a regex group
// name Python accepts; Go's regexp would also take "1a").
func pyIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// buildTemplate is carbon's build_template ('<' → "%(", '>' → ")s")
// followed by what Python's '%' operator does with the group dict, resolved
// once: "%(name)s" is the group (parentheses nest in the name, as in
// Python), "%%" is '%'.
func buildTemplate(output string, names []string) ([]tmplPart, error) {
	t := strings.ReplaceAll(strings.ReplaceAll(output, "<", "%("), ">", ")s")
	var parts []tmplPart
	var lit strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] != '%' {
			lit.WriteByte(t[i])
			continue
		}
		if i+1 < len(t) && t[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(t) || t[i+1] != '(' {
			return nil, fmt.Errorf("'%%' is a Python format directive there: only <name> and %%%% are supported")
		}
		depth, j := 1, i+2
		for ; j < len(t) && depth > 0; j++ {
			switch t[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth > 0 {
			return nil, fmt.Errorf("'<' without '>'")
		}
		key := t[i+2 : j-1]
		if j >= len(t) || t[j] != 's' {
			return nil, fmt.Errorf("%q is not a <name>: only <name> and %%%% are supported", t[i:])
		}
		g := -1
		for k, n := range names {
			if n == key && n != "" {
				g = k
			}
		}
		if g < 0 {
			return nil, fmt.Errorf("<%s> is not a <name> or <<name>> group of the input pattern (carbon would fail on every metric it matches)", key)
		}
		if lit.Len() > 0 {
			parts = append(parts, tmplPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
		parts = append(parts, tmplPart{group: g})
		i = j
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, tmplPart{lit: lit.String(), group: -1})
	}
	return parts, nil
}

// Match appends to dst what every rule makes of path, in rule order, as
// carbon's AggregationProcessor sees it: one RuleMatch per matching rule
// (two rules may give the same output). It allocates the output strings.
func (r *Rules) Match(path string, dst []RuleMatch) []RuleMatch {
	if r == nil {
		return dst
	}
	var idx []int
	for i := range r.rules {
		ru := &r.rules[i]
		idx = ru.re.FindStringSubmatchIndex(path)
		if idx == nil {
			continue
		}
		var b strings.Builder
		for _, p := range ru.tmpl {
			if p.group < 0 {
				b.WriteString(p.lit)
			} else if s, e := idx[2*p.group], idx[2*p.group+1]; s < 0 {
				b.WriteString("None") // a group that took no part: Python's str(None)
			} else {
				b.WriteString(path[s:e])
			}
		}
		dst = append(dst, RuleMatch{Output: b.String(), Method: ru.method, Frequency: ru.frequency, Line: ru.line})
	}
	return dst
}
