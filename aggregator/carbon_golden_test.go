package aggregator

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCarbonGolden runs every testdata/carbon/NAME.txt with NAME.rules
// through ParseRules and the carbon buffers and compares the result, in the
// oracle's output format, with NAME.golden, made by graphite-carbon 1.1.7's
// own aggregator code (testdata/carbon/gen.sh).
func TestCarbonGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/carbon/*.txt")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases in testdata/carbon: %v", err)
	}
	for _, c := range cases {
		name := strings.TrimSuffix(c, ".txt")
		t.Run(filepath.Base(name), func(t *testing.T) {
			rules, err := os.ReadFile(name + ".rules")
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(c)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(name + ".golden")
			if err != nil {
				t.Fatalf("no golden (run testdata/carbon/gen.sh): %v", err)
			}
			got, err := runCarbonOracleFormat(string(rules), in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: output differs from %s.golden:\n%s", c, name, lineDiff(want, got))
			}
		})
	}
}

// runCarbonOracleFormat does what the carbon-aggregator oracle does with
// its input (see testdata/carbon/gen.sh): "## arg: --forward-all" and
// "## arg: --max-intervals=N" set the options, graphite lines are fed to
// the rules in order, "## flush T" computes every buffer at T.
func runCarbonOracleFormat(rulesText string, in []byte) ([]byte, error) {
	rules, err := ParseRules(rulesText)
	if err != nil {
		return nil, err
	}
	forwardAll, maxIntervals := false, 5
	for _, l := range strings.Split(string(in), "\n") {
		arg, ok := strings.CutPrefix(l, "## arg: ")
		switch {
		case !ok:
		case arg == "--forward-all":
			forwardAll = true
		case strings.HasPrefix(arg, "--max-intervals="):
			if maxIntervals, err = strconv.Atoi(strings.TrimPrefix(arg, "--max-intervals=")); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown oracle option %q", arg)
		}
	}
	st := newCarbonState(maxIntervals, 0)
	var out []byte
	var matches []RuleMatch
	var rout []carbonOut
	var vals []float64
	for _, l := range strings.Split(strings.TrimSuffix(string(in), "\n"), "\n") {
		if ts, ok := strings.CutPrefix(l, "## flush "); ok {
			now, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, err
			}
			out = fmt.Appendf(out, "## flush %d\n", now)
			rout, vals = st.flush(now, rout[:0], vals[:0])
			for i := range rout {
				b := rout[i].bin(vals)
				out = b.AppendLine(out)
			}
			continue
		}
		if strings.HasPrefix(l, "##") || strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("bad input line %q", l)
		}
		v, err1 := strconv.ParseFloat(f[1], 64)
		ts, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad input line %q", l)
		}
		matches = rules.Match(f[0], matches[:0])
		for i := range matches {
			st.input(&matches[i], ts, v)
		}
		if forwardAll && !slices.ContainsFunc(matches, func(m RuleMatch) bool { return m.Output == f[0] }) {
			out = fmt.Appendf(out, "forward %s ", f[0])
			out = appendPyValue(out, v)
			out = fmt.Appendf(out, " %d\n", int64(ts))
		}
	}
	return out, nil
}
