package expr

import (
	"strconv"
	"strings"
)

// PathExpr is a path expression: a graphite glob naming the series to fetch.
type PathExpr struct {
	Pattern string // escapes removed, as graphite-web hands it to its finders
	Raw     string // as written, escapes kept
	Pos     int    // byte offset in the target
}

func (p *PathExpr) String() string { return p.Raw }

// CallExpr is a function call; a piped call (`a.b|scale(2)`) is parsed into
// the nested call it means (`scale(a.b,2)`).
type CallExpr struct {
	Name   string
	Args   []Expr
	Kwargs []Kwarg
	Pos    int // byte offset of the function name in the target
}

// Kwarg is one keyword argument of a call.
type Kwarg struct {
	Name  string
	Value Expr
}

func (c *CallExpr) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	b.WriteByte('(')
	for i, a := range c.Args {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	for i, kw := range c.Kwargs {
		if i > 0 || len(c.Args) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kw.Name)
		b.WriteByte('=')
		b.WriteString(kw.Value.String())
	}
	b.WriteByte(')')
	return b.String()
}

// NumberExpr is a numeric literal. graphite-web keeps integers and floats
// apart (an integer literal is a Python int), and that shows in names such as
// asPercent's "asPercent(a,100)" versus "asPercent(a,100.0)".
type NumberExpr struct {
	Value float64
	Int   bool   // written without a fraction or exponent
	Raw   string // as written in the target
}

func (n *NumberExpr) String() string { return n.Raw }

// pyString renders the number as Python's str() does for the int or float
// graphite-web would hold.
func (n *NumberExpr) pyString() string {
	if n.Int {
		return strconv.FormatFloat(n.Value, 'f', 0, 64)
	}
	return pyFloatStr(n.Value)
}

// StringExpr is a quoted string literal. Value is the text between the
// quotes, with escapes left as written, as graphite-web does.
type StringExpr struct {
	Value string
	Quote byte // ' or "
}

func (s *StringExpr) String() string { return string(s.Quote) + s.Value + string(s.Quote) }

// BoolExpr is true or false (any case).
type BoolExpr struct{ Value bool }

func (b *BoolExpr) String() string { return strconv.FormatBool(b.Value) }

// NoneExpr is None (any case): an argument left at its default.
type NoneExpr struct{}

func (*NoneExpr) String() string { return "None" }
