package expr

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestParse checks what targets parse to, shown as the canonical String()
// (a piped call becomes the nested call it means) plus the path patterns.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		target, want string
		paths        []string
	}{
		{"a.b.c", "a.b.c", []string{"a.b.c"}},
		{"  a.b.c  ", "a.b.c", []string{"a.b.c"}},
		{"a.{b,c}.*", "a.{b,c}.*", []string{"a.{b,c}.*"}},
		{"a.b[0-9]?.c-d_e:f=g#h", "a.b[0-9]?.c-d_e:f=g#h", []string{"a.b[0-9]?.c-d_e:f=g#h"}},
		{`a\(b\).c\,d`, `a\(b\).c\,d`, []string{"a(b).c,d"}},
		{"x{a,b}y.{c}", "x{a,b}y.{c}", []string{"x{a,b}y.{c}"}},
		{"5", "5", []string{"5"}},
		{"sumSeries(a.*)", "sumSeries(a.*)", []string{"a.*"}},
		{"sumSeries( a.* , b.c )", "sumSeries(a.*,b.c)", []string{"a.*", "b.c"}},
		{"sumSeries (a.*)", "sumSeries(a.*)", []string{"a.*"}},
		{"group()", "group()", nil},
		{`alias(a.b, "x y")`, `alias(a.b,"x y")`, []string{"a.b"}},
		{`alias(a.b, 'x "y"')`, `alias(a.b,'x "y"')`, []string{"a.b"}},
		{`alias(a.b, "it\"s")`, `alias(a.b,"it\"s")`, []string{"a.b"}},
		{`summarize(a, "1h", "sum", alignToFrom=true)`, `summarize(a,"1h","sum",alignToFrom=true)`, []string{"a"}},
		{"f(a, 1, -2, 3.5, -0.25, 1e3, 2E-2, 1.5e10)", "f(a,1,-2,3.5,-0.25,1e3,2E-2,1.5e10)", []string{"a"}},
		{"f(a, True, FALSE, none, None, inf, INF)", "f(a,true,false,None,None,inf,INF)", []string{"a"}},
		{"f(a, 1min.x, 10s, truex)", "f(a,1min.x,10s,truex)", []string{"a", "1min.x", "10s", "truex"}},
		{"f(a, 1 , 2 )", "f(a,1,2)", []string{"a"}},
		{"f(a.b|g(1), c)", "f(g(a.b,1),c)", []string{"a.b", "c"}},
		{"a.b | scale(2) |alias('x')", "alias(scale(a.b,2),'x')", []string{"a.b"}},
		{"f(x=1)", "f(x=1)", nil},
		{"f(a, x=)", "f(a,x=)", []string{"a", "x="}},
		{"A=|A()", "A(A=)", []string{"A="}},
		{"f(a, x = b.c, y=g(d))", "f(a,x=b.c,y=g(d))", []string{"a", "b.c", "d"}},
		{"asPercent(a.*, a.*, 1)", "asPercent(a.*,a.*,1)", []string{"a.*"}},
		{"f(g(h(i(j.k))))", "f(g(h(i(j.k))))", []string{"j.k"}},
	} {
		e, err := Parse(tc.target)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.target, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.target, got, tc.want)
		}
		if got := PathPatterns(e); !slices.Equal(got, tc.paths) {
			t.Errorf("PathPatterns(%q) = %q, want %q", tc.target, got, tc.paths)
		}
	}
}

// TestParseLiterals checks the values literals carry.
func TestParseLiterals(t *testing.T) {
	e, err := Parse(`f(a, 7, -2.5, 1e3, 'q\'s', false, None, inf)`)
	if err != nil {
		t.Fatal(err)
	}
	args := e.(*CallExpr).Args
	if n := args[1].(*NumberExpr); n.Value != 7 || !n.Int {
		t.Errorf("7 parsed as %+v", n)
	}
	if n := args[2].(*NumberExpr); n.Value != -2.5 || n.Int {
		t.Errorf("-2.5 parsed as %+v", n)
	}
	if n := args[3].(*NumberExpr); n.Value != 1000 || n.Int {
		t.Errorf("1e3 parsed as %+v (graphite-web reads an exponent as a float)", n)
	}
	if s := args[4].(*StringExpr); s.Value != `q\'s` {
		t.Errorf(`'q\'s' parsed as %q (graphite-web keeps escapes)`, s.Value)
	}
	if b := args[5].(*BoolExpr); b.Value {
		t.Errorf("false parsed as %+v", b)
	}
	if _, ok := args[6].(*NoneExpr); !ok {
		t.Errorf("None parsed as %T", args[6])
	}
	if n := args[7].(*NumberExpr); !math.IsInf(n.Value, 1) {
		t.Errorf("inf parsed as %+v", n)
	}
	if p := args[0].(*PathExpr); p.Pos != 2 || p.Pattern != "a" {
		t.Errorf("a parsed as %+v, want position 2", p)
	}
}

// TestParseErrors checks that bad targets fail with a *SyntaxError naming
// the position and what was wrong.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		target string
		pos    int
		msg    string
	}{
		{"", 0, "empty target"},
		{"   ", 3, "empty target"},
		{"sum(", 4, "missing argument"},
		{"sum(a.b", 7, "missing ')' to close the call to sum"},
		{"sum(a.b,)", 8, "missing argument"},
		{"sum(a.b c)", 8, `unexpected 'c' in the arguments of sum`},
		{"a..b", 2, `unexpected '.' where a path element should be`},
		{"a.", 2, "missing path element"},
		{".a", 0, `unexpected '.' where a path element should be`},
		{"sum(a) x", 7, `unexpected 'x' after the expression`},
		{"a.b)", 3, `unexpected ')' after the expression`},
		{"alias(a, 'x)", 9, "unterminated string"},
		{"a.{b", 4, "missing '}' to close the braces opened at position 2"},
		{"a.{b,}", 5, "empty alternative in the braces opened at position 2"},
		{"a.{b.c}", 4, `unexpected '.' in the braces opened at position 2`},
		{"f(x=1, a.b)", 7, "positional argument after keyword argument in call to f"},
		{`a\q`, 1, "a backslash in a path must escape one of"},
		{"a.b|c.d", 4, "expected a function call after '|'"},
		{"f(a, 'x\ny')", 7, "newline in the string starting at position 5"},
		{`f("a" "b")`, 6, `unexpected '"' in the arguments of f`},
		{strings.Repeat("f(", 300) + "a" + strings.Repeat(")", 300), 402, "nested deeper than 200"},
	} {
		_, err := Parse(tc.target)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): got %v, want a *SyntaxError", tc.target, err)
			continue
		}
		if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("Parse(%q): got position %d %q, want position %d %q", tc.target, se.Pos, se.Msg, tc.pos, tc.msg)
		}
		if !strings.Contains(err.Error(), "position") {
			t.Errorf("Parse(%q): error %q does not name the position", tc.target, err)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts prints to
// a target that parses to the same thing, and that evaluating it never
// panics either (errors are fine).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a.b.c", "a.{b,c}.*", `alias(a.b, "x")`, `summarize(a, "1h", "sum", alignToFrom=true)`,
		"f(a, 1, -2.5e3, true, None, inf)", "a.b|scale(2)|alias('x')", `a\(b`, "f(x=1)",
		"movingAverage(a.b, 5)", `aliasSub(a.b, "(b)", "\1")`, "asPercent(a.*, None, 0)",
	} {
		f.Add(s)
	}
	if b, err := os.ReadFile("testdata/goldens.json"); err == nil {
		var g struct{ Cases []struct{ Target string } }
		if json.Unmarshal(b, &g) == nil {
			for _, c := range g.Cases {
				f.Add(c.Target)
			}
		}
	}
	fetch := func(_ context.Context, pattern string, from, until int64) ([]*Series, error) {
		return []*Series{
			{Name: "a.b", Start: 0, End: 60, Step: 10, Values: []float64{1, math.NaN(), 3, -4, 5, 6}},
			{Name: "a.c", Start: 0, End: 60, Step: 20, Values: []float64{2, 0, math.NaN()}},
		}, nil
	}
	f.Fuzz(func(t *testing.T, target string) {
		e, err := Parse(target)
		if err != nil {
			return
		}
		again, err := Parse(e.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", target, e, err)
		}
		if again.String() != e.String() {
			t.Fatalf("Parse(%q) = %s, which parses to %s", target, e, again)
		}
		_, _ = Eval(context.Background(), &Context{From: 0, Until: 60, Now: 60, Fetch: fetch}, e)
	})
}
