package expr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"ringrelay/sinks"
)

// goldens is testdata/goldens.json: what graphite-web computed for each
// target over the fixtures (testdata/gen_goldens.py says how it was made).
type goldens struct {
	From, Until, Now int64
	Fixtures         map[string]struct {
		Start, Step int64
		Values      []*float64
	}
	Cases []struct {
		Target string
		Error  string
		Series []struct {
			Name           string
			PathExpression string `json:"pathExpression"`
			Start, End     int64
			Step           int64
			Values         []*float64
		}
	}
}

func loadGoldens(t *testing.T) *goldens {
	t.Helper()
	b, err := os.ReadFile("testdata/goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldens
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("failed to decode testdata/goldens.json: %v", err)
	}
	return &g
}

func floats(ps []*float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		if p == nil {
			out[i] = math.NaN()
		} else {
			out[i] = *p
		}
	}
	return out
}

// fetcher serves the fixtures as the generator's fetch does: every fixture
// the pattern matches, sliced to the points with from <= t < until, sorted
// by name. It records the windows it was asked for.
func (g *goldens) fetcher(calls *[]string) Fetcher {
	return func(_ context.Context, pattern string, from, until int64) ([]*Series, error) {
		*calls = append(*calls, fmt.Sprintf("%s[%d,%d)", pattern, from, until))
		glob, err := sinks.CompileGlob(pattern)
		if err != nil {
			return nil, err
		}
		var names []string
		for n := range g.Fixtures {
			if glob.Match(n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		var out []*Series
		for _, n := range names {
			f := g.Fixtures[n]
			s := &Series{Name: n, Step: f.Step}
			for i, v := range floats(f.Values) {
				ts := f.Start + int64(i)*f.Step
				if ts < from || ts >= until {
					continue
				}
				if len(s.Values) == 0 {
					s.Start = ts
				}
				s.Values = append(s.Values, v)
			}
			if len(s.Values) == 0 {
				continue
			}
			s.End = s.Start + int64(len(s.Values))*s.Step
			out = append(out, s)
		}
		return out, nil
	}
}

// sameValue compares exactly: null with null, numbers bit for bit (the
// functions add and divide in graphite-web's order).
func sameValue(got, want float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	return got == want
}

// TestFunctionsMatchGraphiteWeb evaluates every golden target and compares
// names, path expressions, windows and values with graphite-web's.
func TestFunctionsMatchGraphiteWeb(t *testing.T) {
	g := loadGoldens(t)
	for _, tc := range g.Cases {
		t.Run(tc.Target, func(t *testing.T) {
			var calls []string
			c := &Context{From: g.From, Until: g.Until, Now: g.Now, Fetch: g.fetcher(&calls)}
			e, err := Parse(tc.Target)
			var got []*Series
			if err == nil {
				got, err = Eval(context.Background(), c, e)
			}
			if tc.Error != "" {
				if err == nil {
					t.Fatalf("%s: got %d series, want an error (graphite-web: %s)", tc.Target, len(got), tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.Target, err)
			}
			if len(got) != len(tc.Series) {
				t.Fatalf("%s: got %d series %v, want %d", tc.Target, len(got), names(got), len(tc.Series))
			}
			for i, w := range tc.Series {
				s := got[i]
				if s.Name != w.Name || s.PathExpression != w.PathExpression {
					t.Errorf("%s: series %d is %q (path expression %q), want %q (%q)", tc.Target, i, s.Name, s.PathExpression, w.Name, w.PathExpression)
				}
				if s.Start != w.Start || s.End != w.End || s.Step != w.Step {
					t.Errorf("%s: %s window is [%d,%d) step %d, want [%d,%d) step %d", tc.Target, w.Name, s.Start, s.End, s.Step, w.Start, w.End, w.Step)
				}
				want := floats(w.Values)
				if len(s.Values) != len(want) {
					t.Errorf("%s: %s has %d values, want %d", tc.Target, w.Name, len(s.Values), len(want))
					continue
				}
				for j := range want {
					if !sameValue(s.Values[j], want[j]) {
						t.Errorf("%s: %s value %d (t=%d) is %v, want %v", tc.Target, w.Name, j, w.Start+int64(j)*w.Step, s.Values[j], want[j])
					}
				}
			}
		})
	}
}

func names(list []*Series) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Name
	}
	return out
}

// TestMovingAverageFetchesEarlier checks the preview read: movingAverage
// reads its input again from windowSize before the request's from.
func TestMovingAverageFetchesEarlier(t *testing.T) {
	g := loadGoldens(t)
	for _, tc := range []struct {
		target, want string
	}{
		{"movingAverage(a.b.c, 5)", fmt.Sprintf("a.b.c[%d,%d)", g.From-50, g.Until)},
		{`movingAverage(a.b.c, "5min")`, fmt.Sprintf("a.b.c[%d,%d)", g.From-300, g.Until)},
		{`movingAverage(seriesList=a.b.c, windowSize="1min")`, fmt.Sprintf("a.b.c[%d,%d)", g.From-60, g.Until)},
	} {
		var calls []string
		c := &Context{From: g.From, Until: g.Until, Now: g.Now, Fetch: g.fetcher(&calls)}
		e, err := Parse(tc.target)
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		if _, err := Eval(context.Background(), c, e); err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		if !slices.Contains(calls, tc.want) {
			t.Errorf("%s: fetches %v, want one of %s", tc.target, calls, tc.want)
		}
	}
}

// TestEvalErrors checks that bad calls fail with an error naming the
// function and what was wrong, and unknown functions with
// *UnknownFunctionError.
func TestEvalErrors(t *testing.T) {
	g := loadGoldens(t)
	for _, tc := range []struct {
		target, want string
	}{
		{"noSuchFunction(a.b.c)", `unknown function "noSuchFunction"`},
		{"sumSeries(a.b.c, bogus(a.b.c))", `unknown function "bogus"`},
		{"scale(a.b.c)", `scale: missing required parameter "factor"`},
		{"scale(a.b.c, 2, 3)", "too many arguments to scale"},
		{"scale(a.b.c, 2, factor=3)", `scale: unexpected keyword argument "factor"`},
		{`scale(a.b.c, "x")`, `scale: invalid float value for parameter "factor": "x"`},
		{"scale(1, 2)", `scale: invalid seriesList value for parameter "seriesList": 1`},
		{"limit(a.b.c, 1.5)", `limit: invalid integer value for parameter "n": 1.5`},
		{`summarize(a.b.c, "1min", "nope")`, `summarize: invalid aggregation function "nope"`},
		{`summarize(a.b.c, "1q")`, `summarize: invalid interval value for parameter "intervalString": "1q"`},
		{`summarize(a.b.c, "-1h")`, `interval "-1h" must be positive`},
		{`aliasSub(a.b.c, "(?<=a)b", "x")`, `failed to compile regular expression "(?<=a)b"`},
		{`aliasSub(a.b.c, "b", "\q")`, `unknown escape \q`},
		{`asPercent(web.*.errors, web.*.requests)`, "not 3 series"},
		{`asPercent(a.b.c, "x")`, "the total must be a number or a series list, not a string"},
		{"alias(a.b.c, x=1, x=2)", `keyword argument "x" given twice`},
		{"alias(a.b.c, None)", `alias: parameter "newName" is required and cannot be None`},
	} {
		var calls []string
		c := &Context{From: g.From, Until: g.Until, Now: g.Now, Fetch: g.fetcher(&calls)}
		e, err := Parse(tc.target)
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		_, err = Eval(context.Background(), c, e)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.target, err, tc.want)
		}
	}
	var calls []string
	c := &Context{From: g.From, Until: g.Until, Fetch: g.fetcher(&calls)}
	e, _ := Parse("nope(a.b.c)")
	_, err := Eval(context.Background(), c, e)
	var ufe *UnknownFunctionError
	if !errors.As(err, &ufe) || ufe.Name != "nope" {
		t.Errorf("nope(a.b.c): got %v, want *UnknownFunctionError{Name: nope}", err)
	}
}

// TestFetchError checks that a failing fetch fails the evaluation and
// names the pattern.
func TestFetchError(t *testing.T) {
	c := &Context{From: 0, Until: 60, Fetch: func(context.Context, string, int64, int64) ([]*Series, error) {
		return nil, errors.New("store down")
	}}
	e, _ := Parse("sumSeries(x.y)")
	_, err := Eval(context.Background(), c, e)
	if err == nil || !strings.Contains(err.Error(), `failed to fetch "x.y": store down`) {
		t.Errorf("got %v, want the fetch error naming x.y", err)
	}
}

// TestInputsUnchanged checks that functions copy: the fetcher's series keep
// their names and values.
func TestInputsUnchanged(t *testing.T) {
	orig := &Series{Name: "a.b", Start: 0, End: 30, Step: 10, Values: []float64{1, math.NaN(), 3}}
	c := &Context{From: 0, Until: 30, Fetch: func(context.Context, string, int64, int64) ([]*Series, error) {
		return []*Series{orig}, nil
	}}
	for _, target := range []string{"scale(a.b, 2)", "alias(a.b, 'x')", "keepLastValue(a.b)", "transformNull(a.b)", "sortByMaxima(a.b)"} {
		e, err := Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Eval(context.Background(), c, e); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if orig.Name != "a.b" || orig.PathExpression != "" || orig.Values[0] != 1 || !math.IsNaN(orig.Values[1]) {
			t.Fatalf("%s changed its input: %+v", target, orig)
		}
	}
}
