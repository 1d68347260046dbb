// Package expr parses graphite-web render targets and evaluates them: path
// expressions, nested function calls and the functions the read API supports,
// computed as graphite-web 1.1 computes them. It reads data only through the
// Fetcher it is handed; finding and storing series is left to graphiteapi.
package expr

import (
	"context"
	"fmt"
)

// Series is one named series over [Start, End) at Step seconds; Values[i] is the value of the
// bin starting at Start+i*Step; math.NaN() is a missing value (null).
type Series struct {
	Name           string // as graphite-web names it (the path, or e.g. "sumSeries(a.*)")
	PathExpression string // the expression it came from (graphite-web's pathExpression)
	Start, End     int64
	Step           int64
	Values         []float64
	// ConsolidationFunc is how the series is reduced when there are more points than
	// maxDataPoints: "average" (default), "sum", "min", "max", "last" (set by
	// consolidateBy only; not required).
	ConsolidationFunc string
}

// Fetcher returns the series a path pattern (a graphite glob) names over [from, until), one per
// matching leaf, sorted by name. It is how expressions read data.
type Fetcher func(ctx context.Context, pattern string, from, until int64) ([]*Series, error)

// Context is what an evaluation needs.
type Context struct {
	From, Until int64 // the request's window (unix seconds)
	Now         int64
	Fetch       Fetcher
}

// Expr is a parsed target.
type Expr interface{ String() string }

// UnknownFunctionError is returned by Eval for a call to a function this package does not have.
type UnknownFunctionError struct{ Name string }

func (e *UnknownFunctionError) Error() string { return fmt.Sprintf("unknown function %q", e.Name) }
