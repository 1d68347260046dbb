package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SyntaxError is a target that does not parse. Pos is the 0-based byte
// offset where parsing stopped.
type SyntaxError struct {
	Target string
	Pos    int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("failed to parse target %q at position %d: %s", e.Target, e.Pos, e.Msg)
}

// maxDepth bounds call nesting so a hostile target cannot exhaust the stack.
const maxDepth = 200

// Parse parses a render target as graphite-web's grammar (render/grammar.py)
// does: a path expression or a function call, calls nested, positional then
// keyword arguments, strings in '…' or "…", numbers (integer, float,
// exponent), true/false, None, inf, and piped calls (`a.b|scale(2)`).
// Unlike graphite-web, which silently ignores what follows a valid prefix,
// trailing text is an error.
func Parse(target string) (Expr, error) {
	p := &parser{src: target}
	p.skipSpace()
	if p.pos == len(p.src) {
		return nil, p.errorf("empty target")
	}
	e, err := p.expression(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, p.errorf("unexpected %q after the expression", p.src[p.pos])
	}
	return e, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Target: p.src, Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isIdent(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// pathSymbols are the printable characters that cannot appear unescaped in a
// path expression.
const pathSymbols = "(){},.'\"\\|"

// isMetricChar reports whether c may appear unescaped in a path element:
// printable ASCII except spaces and pathSymbols.
func isMetricChar(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte(pathSymbols, c) < 0
}

// identAt returns the identifier starting at pos, or "".
func (p *parser) identAt(pos int) string {
	if pos >= len(p.src) || !isIdentStart(p.src[pos]) {
		return ""
	}
	end := pos + 1
	for end < len(p.src) && isIdent(p.src[end]) {
		end++
	}
	return p.src[pos:end]
}

// nextNonSpace returns the first byte at or after pos that is not a space,
// or 0 at the end.
func (p *parser) nextNonSpace(pos int) byte {
	for pos < len(p.src) && isSpace(p.src[pos]) {
		pos++
	}
	if pos == len(p.src) {
		return 0
	}
	return p.src[pos]
}

// endsArg reports whether the text from pos ends an argument (a ',' or ')'
// or the end follows, after spaces); graphite-web takes a literal only then.
func (p *parser) endsArg(pos int) bool {
	c := p.nextNonSpace(pos)
	return c == 0 || c == ',' || c == ')'
}

// expression parses a call or a path expression, then any piped calls.
func (p *parser) expression(depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf("expression nested deeper than %d", maxDepth)
	}
	var e Expr
	var err error
	if name := p.identAt(p.pos); name != "" && p.nextNonSpace(p.pos+len(name)) == '(' {
		e, err = p.call(depth)
	} else {
		e, err = p.path()
	}
	if err != nil {
		return nil, err
	}
	for p.nextNonSpace(p.pos) == '|' {
		p.skipSpace()
		p.pos++ // '|'
		p.skipSpace()
		start := p.pos
		name := p.identAt(p.pos)
		if name == "" || p.nextNonSpace(p.pos+len(name)) != '(' {
			return nil, p.errorf("expected a function call after '|'")
		}
		piped, err := p.call(depth)
		if err != nil {
			return nil, err
		}
		c := piped.(*CallExpr)
		c.Args = append([]Expr{e}, c.Args...)
		c.Pos = start
		e = c
	}
	return e, nil
}

// call parses name(args) with the name at p.pos.
func (p *parser) call(depth int) (Expr, error) {
	c := &CallExpr{Name: p.identAt(p.pos), Pos: p.pos}
	p.pos += len(c.Name)
	p.skipSpace()
	p.pos++ // '('
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return c, nil
	}
	for {
		p.skipSpace()
		kw, kwErr := p.kwarg(depth)
		if kwErr == nil && kw != nil {
			c.Kwargs = append(c.Kwargs, *kw)
		} else {
			// Not a keyword argument: as in graphite-web's grammar, "x=" may
			// still begin a path.
			argStart := p.pos
			v, err := p.arg(depth)
			if err != nil {
				if kwErr != nil {
					return nil, kwErr
				}
				return nil, err
			}
			if len(c.Kwargs) > 0 {
				p.pos = argStart
				return nil, p.errorf("positional argument after keyword argument in call to %s", c.Name)
			}
			c.Args = append(c.Args, v)
		}
		p.skipSpace()
		if p.pos == len(p.src) {
			return nil, p.errorf("missing ')' to close the call to %s", c.Name)
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return c, nil
		default:
			return nil, p.errorf("unexpected %q in the arguments of %s (want ',' or ')')", p.src[p.pos], c.Name)
		}
	}
}

// kwarg parses name=arg at p.pos. If the text is not one, it returns nil
// and leaves p.pos; if it starts like one but its argument fails, it
// returns the error and leaves p.pos too, so the caller can try a path.
func (p *parser) kwarg(depth int) (*Kwarg, error) {
	name := p.identAt(p.pos)
	if name == "" || p.nextNonSpace(p.pos+len(name)) != '=' {
		return nil, nil
	}
	start := p.pos
	p.pos += len(name)
	p.skipSpace()
	p.pos++ // '='
	p.skipSpace()
	v, err := p.arg(depth)
	if err != nil {
		p.pos = start
		return nil, err
	}
	return &Kwarg{Name: name, Value: v}, nil
}

// arg parses one argument: a literal, or else an expression.
func (p *parser) arg(depth int) (Expr, error) {
	if p.pos == len(p.src) {
		return nil, p.errorf("missing argument")
	}
	if word := p.identAt(p.pos); word != "" && p.endsArg(p.pos+len(word)) {
		switch strings.ToLower(word) {
		case "true", "false":
			p.pos += len(word)
			return &BoolExpr{Value: strings.EqualFold(word, "true")}, nil
		case "none":
			p.pos += len(word)
			return &NoneExpr{}, nil
		case "inf":
			p.pos += len(word)
			return &NumberExpr{Value: math.Inf(1), Raw: word}, nil
		}
	}
	if n, ok := p.number(); ok {
		return n, nil
	}
	switch p.src[p.pos] {
	case '"', '\'':
		return p.str()
	case ',', ')':
		return nil, p.errorf("missing argument")
	}
	return p.expression(depth + 1)
}

// number parses an integer, float or exponent literal if one is at p.pos and
// ends the argument; otherwise it consumes nothing (the text may still be a
// path such as 1min.x).
func (p *parser) number() (Expr, bool) {
	end := p.pos
	digits := func() bool {
		s := end
		for end < len(p.src) && isDigit(p.src[end]) {
			end++
		}
		return end > s
	}
	if end < len(p.src) && p.src[end] == '-' {
		end++
	}
	if !digits() {
		return nil, false
	}
	isInt := true
	if end+1 < len(p.src) && p.src[end] == '.' && isDigit(p.src[end+1]) {
		end++
		digits()
		isInt = false
	}
	if end < len(p.src) && (p.src[end] == 'e' || p.src[end] == 'E') {
		save := end
		end++
		if end < len(p.src) && p.src[end] == '-' {
			end++
		}
		if digits() {
			isInt = false
		} else {
			end = save
		}
	}
	if !p.endsArg(end) {
		return nil, false
	}
	raw := p.src[p.pos:end]
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil && !isRangeErr(err) {
		return nil, false
	}
	p.pos = end
	return &NumberExpr{Value: v, Int: isInt, Raw: raw}, true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// str parses a quoted string; a backslash escapes the next character and a
// doubled quote stands for itself, as pyparsing's quotedString reads them.
func (p *parser) str() (Expr, error) {
	start := p.pos
	q := p.src[p.pos]
	p.pos++
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.src):
			p.pos += 2
		case c == q && p.pos+1 < len(p.src) && p.src[p.pos+1] == q:
			p.pos += 2
		case c == q:
			p.pos++
			return &StringExpr{Value: p.src[start+1 : p.pos-1], Quote: q}, nil
		case c == '\n' || c == '\r':
			return nil, p.errorf("newline in the string starting at position %d", start)
		default:
			p.pos++
		}
	}
	p.pos = start
	return nil, p.errorf("unterminated string")
}

// path parses a path expression: elements separated by '.', each made of
// metric characters, backslash-escaped symbols and {a,b} alternatives.
func (p *parser) path() (Expr, error) {
	start := p.pos
	var b strings.Builder
	for {
		n, err := p.pathElement(&b)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if p.pos == len(p.src) {
				return nil, p.errorf("missing path element")
			}
			return nil, p.errorf("unexpected %q where a path element should be", p.src[p.pos])
		}
		if p.pos < len(p.src) && p.src[p.pos] == '.' {
			b.WriteByte('.')
			p.pos++
			continue
		}
		return &PathExpr{Pattern: b.String(), Raw: p.src[start:p.pos], Pos: start}, nil
	}
}

// pathElement appends one element of a path to b and returns how many
// source bytes it took.
func (p *parser) pathElement(b *strings.Builder) (int, error) {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '{':
			if err := p.matchEnum(b); err != nil {
				return 0, err
			}
		case c == '\\':
			if err := p.escape(b); err != nil {
				return 0, err
			}
		case isMetricChar(c):
			b.WriteByte(c)
			p.pos++
		default:
			return p.pos - start, nil
		}
	}
	return p.pos - start, nil
}

// escape reads a backslash and the symbol it escapes into b.
func (p *parser) escape(b *strings.Builder) error {
	if p.pos+1 >= len(p.src) || strings.IndexByte(pathSymbols+"=", p.src[p.pos+1]) < 0 {
		return p.errorf("a backslash in a path must escape one of %s=", pathSymbols)
	}
	b.WriteByte(p.src[p.pos+1])
	p.pos += 2
	return nil
}

// matchEnum reads {a,b,...}, each alternative a non-empty run of metric
// characters or escapes.
func (p *parser) matchEnum(b *strings.Builder) error {
	open := p.pos
	b.WriteByte('{')
	p.pos++
	for {
		n := 0
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			if c == '\\' {
				if err := p.escape(b); err != nil {
					return err
				}
			} else if isMetricChar(c) {
				b.WriteByte(c)
				p.pos++
			} else {
				break
			}
			n++
		}
		if n == 0 {
			return p.errorf("empty alternative in the braces opened at position %d", open)
		}
		if p.pos == len(p.src) {
			return p.errorf("missing '}' to close the braces opened at position %d", open)
		}
		switch p.src[p.pos] {
		case ',':
			b.WriteByte(',')
			p.pos++
		case '}':
			b.WriteByte('}')
			p.pos++
			return nil
		default:
			return p.errorf("unexpected %q in the braces opened at position %d", p.src[p.pos], open)
		}
	}
}
