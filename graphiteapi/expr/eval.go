package expr

import (
	"context"
	"fmt"
	"strings"
)

// Eval evaluates a parsed target over c's window: path expressions are read
// through c.Fetch (each fetch is tagged with the pattern as its
// PathExpression), calls run the functions as graphite-web 1.1 does. A call
// to a function this package lacks fails with *UnknownFunctionError; bad
// arguments fail with an error naming the function and the parameter. Input
// series are never modified: every function returns new Series values.
func Eval(ctx context.Context, c *Context, e Expr) ([]*Series, error) {
	if c == nil || c.Fetch == nil {
		return nil, fmt.Errorf("failed to evaluate %q: no fetcher in the context", e)
	}
	v, err := evalExpr(ctx, c, e)
	if err != nil {
		return nil, err
	}
	if v.kind != kindSeries {
		return nil, fmt.Errorf("failed to evaluate %q: it is a %s, not a series list", e, v.kind)
	}
	if v.series == nil {
		return []*Series{}, nil
	}
	return v.series, nil
}

// valueKind is what an evaluated argument is.
type valueKind int

const (
	kindSeries valueKind = iota
	kindNumber
	kindString
	kindBool
	kindNone
)

func (k valueKind) String() string {
	return [...]string{"series list", "number", "string", "boolean", "None"}[k]
}

// value is an evaluated argument.
type value struct {
	kind   valueKind
	series []*Series
	num    *NumberExpr // kindNumber; keeps whether it was an integer
	str    string
	b      bool
}

// evalExpr evaluates one expression: a path is fetched, a call is run,
// a literal is its value.
func evalExpr(ctx context.Context, c *Context, e Expr) (value, error) {
	switch e := e.(type) {
	case *PathExpr:
		return fetchPath(ctx, c, e.Pattern)
	case *CallExpr:
		return evalCall(ctx, c, e)
	case *NumberExpr:
		return value{kind: kindNumber, num: e}, nil
	case *StringExpr:
		return value{kind: kindString, str: e.Value}, nil
	case *BoolExpr:
		return value{kind: kindBool, b: e.Value}, nil
	case *NoneExpr:
		return value{kind: kindNone}, nil
	}
	return value{}, fmt.Errorf("failed to evaluate %v: unknown expression type %T", e, e)
}

// fetchPath reads a path expression's series; copies carry the pattern as
// their PathExpression, as graphite-web's fetchData tags them.
func fetchPath(ctx context.Context, c *Context, pattern string) (value, error) {
	got, err := c.Fetch(ctx, pattern, c.From, c.Until)
	if err != nil {
		return value{}, fmt.Errorf("failed to fetch %q: %w", pattern, err)
	}
	out := make([]*Series, len(got))
	for i, s := range got {
		if s.Step <= 0 {
			return value{}, fmt.Errorf("failed to fetch %q: series %q has step %d", pattern, s.Name, s.Step)
		}
		cp := *s
		cp.PathExpression = pattern
		out[i] = &cp
	}
	return value{kind: kindSeries, series: out}, nil
}

// call is one function invocation: its bound arguments and what it needs
// to evaluate more (movingAverage re-reads its input over a longer window).
type call struct {
	ctx  context.Context
	c    *Context
	expr *CallExpr
	args map[string][]value // by parameter name; a multiple parameter may hold many
}

func evalCall(ctx context.Context, c *Context, e *CallExpr) (value, error) {
	f, ok := registry()[e.Name]
	if !ok {
		return value{}, &UnknownFunctionError{Name: e.Name}
	}
	pos := make([]value, len(e.Args))
	for i, a := range e.Args {
		v, err := evalExpr(ctx, c, a)
		if err != nil {
			return value{}, err
		}
		pos[i] = v
	}
	kw := make(map[string]value, len(e.Kwargs))
	for _, a := range e.Kwargs {
		if _, dup := kw[a.Name]; dup {
			return value{}, fmt.Errorf("%s: keyword argument %q given twice", e.Name, a.Name)
		}
		v, err := evalExpr(ctx, c, a.Value)
		if err != nil {
			return value{}, err
		}
		kw[a.Name] = v
	}
	bound, err := bind(e.Name, f.params, pos, kw, e.Kwargs)
	if err != nil {
		return value{}, err
	}
	out, err := f.run(&call{ctx: ctx, c: c, expr: e, args: bound})
	if err != nil {
		return value{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	return value{kind: kindSeries, series: out}, nil
}

// bind matches arguments to parameters as graphite-web's validateParams
// does: positional arguments fill the parameters in order (extra ones go to
// a final multiple parameter), keyword arguments fill the rest by name, and
// each value is checked against its parameter's type. None leaves an
// optional parameter at its default.
func bind(fn string, params []param, pos []value, kw map[string]value, order []Kwarg) (map[string][]value, error) {
	out := make(map[string][]value, len(params))
	posParams := params
	if len(pos) < len(params) {
		posParams = params[:len(pos)]
	} else if len(pos) > len(params) && (len(params) == 0 || !params[len(params)-1].multiple) {
		return nil, fmt.Errorf("too many arguments to %s: it takes %d", fn, len(params))
	}
	for i, v := range pos {
		p := params[min(i, len(params)-1)]
		if err := p.accept(fn, v, out); err != nil {
			return nil, err
		}
	}
	used := make(map[string]bool, len(kw))
	for _, p := range params[len(posParams):] {
		v, ok := kw[p.name]
		used[p.name] = ok
		if !ok || v.kind == kindNone {
			if p.required {
				return nil, fmt.Errorf("%s: missing required parameter %q", fn, p.name)
			}
			continue
		}
		if err := p.accept(fn, v, out); err != nil {
			return nil, err
		}
	}
	for _, a := range order {
		if !used[a.Name] {
			return nil, fmt.Errorf("%s: unexpected keyword argument %q", fn, a.Name)
		}
	}
	return out, nil
}

// PathPatterns returns the path patterns (glob strings) an expression reads,
// each once, in the order they appear: positional and keyword arguments alike.
func PathPatterns(e Expr) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(Expr)
	walk = func(e Expr) {
		switch e := e.(type) {
		case *PathExpr:
			if !seen[e.Pattern] {
				seen[e.Pattern] = true
				out = append(out, e.Pattern)
			}
		case *CallExpr:
			for _, a := range e.Args {
				walk(a)
			}
			for _, a := range e.Kwargs {
				walk(a.Value)
			}
		}
	}
	walk(e)
	return out
}

// quoteList renders options for an error message.
func quoteList(opts []string) string {
	q := make([]string, len(opts))
	for i, o := range opts {
		q[i] = fmt.Sprintf("%q", o)
	}
	return strings.Join(q, ", ")
}

// argExpr returns the expression given for a parameter: positional at index
// i, or by keyword.
func (c *call) argExpr(i int, name string) Expr {
	if i < len(c.expr.Args) {
		return c.expr.Args[i]
	}
	for _, kw := range c.expr.Kwargs {
		if kw.Name == name {
			return kw.Value
		}
	}
	return nil
}
