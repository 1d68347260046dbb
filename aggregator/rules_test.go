package aggregator

import (
	"strings"
	"testing"
)

func TestParseRulesErrors(t *testing.T) {
	for _, c := range []struct {
		text, want string
	}{
		{"a (60) sum b", `line 1 "a (60) sum b": no '='`},
		{"# c\n\na b (60) = sum c", `line 3 "a b (60) = sum c": left of '=' has 3 fields`},
		{"a (60) = sum", `right of '=' has 1 fields`},
		{"a (60) = sum b c", `right of '=' has 3 fields`},
		{"a (x) = sum b", `frequency "(x)": not an integer`},
		{"a (0) = sum b", `frequency "(0)": must be at least 1`},
		{"a (-60) = sum b", `must be at least 1`},
		{"a (6__0) = sum b", `not an integer`},
		{"a (60) = median b", `invalid aggregation method "median"`},
		{"a.<x> (60) = sum b.<y>", `<x> is not a <name> or <<name>> group`},
		{"a.<<x>> (60) = sum b.<<x>>", `is not a <name> or <<name>> group`},
		{"a.<x (60) = sum b.<x>", `'<' without '>'`},
		{"a.%s (60) = sum b", `Python format directive`},
		{"a (60) = sum b.<x>.<x>", `group <x> appears twice`},
		{"a (60) = sum b.<1x>", `"1x" is not a group name`},
		{"a (60) = sum b.(?=x)", `regular expression`},
		{"a (60) = sum *<<x>>", `regular expression`}, // carbon: "nothing to repeat"
	} {
		_, err := ParseRules(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRules(%q) = %v, want an error containing %q", c.text, err, c.want)
		}
	}
}

func TestRulesMatch(t *testing.T) {
	rs, err := ParseRules("# carbon's test_aggregator_rules.py\n" +
		"hosts.<h>.hist.p99 (60) = max hosts.<h>.hist.p99\n" +
		"<env>.applications.<app>.all.requests (60) = sum <env>.applications.<app>.*.requests\n" +
		"all.<rest> (10) = p999 x.<<rest>>\n" +
		"all.<rest> (30) = count x.<<rest>>\n")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 4 {
		t.Fatalf("Len() = %d, want 4", rs.Len())
	}
	for _, c := range []struct {
		path string
		want []RuleMatch
	}{
		{"hosts.abc.hist.p99", []RuleMatch{{"hosts.abc.hist.p99", MethodMax, 60, 2}}},
		{"hosts.abc.hist.p999", nil},
		{"prod.applications.apache.www01.requests", []RuleMatch{{"prod.applications.apache.all.requests", MethodSum, 60, 3}}},
		{"prod.applications.apache.www01.requests.x", nil},
		{"x.a.b.c", []RuleMatch{{"all.a.b.c", MethodP999, 10, 4}, {"all.a.b.c", MethodCount, 30, 5}}},
		{"x.", nil},
	} {
		got := rs.Match(c.path, nil)
		if len(got) != len(c.want) {
			t.Errorf("Match(%q) = %v, want %v", c.path, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("Match(%q)[%d] = %+v, want %+v", c.path, i, got[i], c.want[i])
			}
		}
	}
}

// TestMethods: carbon's test_aggregator_methods.py values.
func TestMethods(t *testing.T) {
	for _, c := range []struct {
		m    string
		want float64
	}{
		{"p50", 15.5}, {"p75", 21.25}, {"p80", 23}, {"p90", 32.5}, {"p95", 37.25},
		{"p99", 41.050000000000004}, {"p999", 41.905}, {"sum", 108}, {"avg", 18}, {"min", 4},
		{"max", 42}, {"count", 6},
	} {
		m, err := ParseMethod(c.m)
		if err != nil {
			t.Fatal(err)
		}
		if m.String() != c.m {
			t.Errorf("ParseMethod(%q).String() = %q", c.m, m)
		}
		if got := m.apply([]float64{42, 8, 4, 16, 23, 15}); got != c.want {
			t.Errorf("%s of 4 8 15 16 23 42 = %v, want %v", c.m, got, c.want)
		}
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add("<env>.all.<m> (60) = sum <env>.*.<m>\n")
	f.Add("a.<<b>> ((10)) = p90 x.<<b>>.y*z\r\n# c\n")
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := ParseRules(text)
		if err != nil {
			return
		}
		rs.Match("a.b.c", nil)
		rs.Match(text, nil)
	})
}
