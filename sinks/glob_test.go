package sinks

import (
	"slices"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pat  string
		path string
		want bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.b.cd", false},
		{"a.*.c", "a.xyz.c", true},
		{"a.*.c", "a.x.y.c", false}, // * does not cross a dot
		{"a.b*", "a.b", true},
		{"a.b*", "a.bcd", true},
		{"a.*b*c", "a.xbyc", true},
		{"a.?", "a.x", true},
		{"a.?", "a.xy", false},
		{"a.[a-c]x", "a.bx", true},
		{"a.[a-c]x", "a.dx", false},
		{"a.[!a-c]x", "a.dx", true},
		{"a.[^a-c]x", "a.ax", false},
		{"a.{b,c}.d", "a.c.d", true},
		{"a.{b,c}.d", "a.e.d", false},
		{"a.{b.x,c}.d", "a.b.x.d", true},
		{"a.{b,c{1,2}}", "a.c2", true},
		{"a.[x", "a.[x", true}, // an unclosed class is literal
		{"*", "a", true},
		{"a.caf?", "a.café", true}, // one character, two bytes
		{"a.caf[é]", "a.café", true},
		{"a.caf[a-f]", "a.café", false},
		{"a.*é", "a.xé", true},
		{"*", "a.b", false},
	}
	for _, c := range cases {
		g, err := CompileGlob(c.pat)
		if err != nil {
			t.Fatalf("%q: %v", c.pat, err)
		}
		if got := g.Match(c.path); got != c.want {
			t.Errorf("%q matching %q: got %v, want %v", c.pat, c.path, got, c.want)
		}
	}
}

func TestGlobErrors(t *testing.T) {
	for _, p := range []string{"", "a.{b", "a.b}", "a..b", "a. b"} {
		if _, err := CompileGlob(p); err == nil {
			t.Errorf("%q compiled; want an error", p)
		}
	}
	big := ""
	for range 13 {
		big += "{a,b}"
	}
	if _, err := CompileGlob(big); err == nil {
		t.Error("8192 variants compiled; want an error")
	}
}

func TestGlobNodes(t *testing.T) {
	paths := []string{"a.b.c", "a.b", "a.x.y", "b.c"}
	g, _ := CompileGlob("a.*")
	got := g.Nodes(slices.Values(paths))
	want := []Node{{Path: "a.b", Leaf: true, Branch: true}, {Path: "a.x", Branch: true}}
	if !slices.Equal(got, want) {
		t.Fatalf("nodes: got %+v, want %+v", got, want)
	}
	g, _ = CompileGlob("*")
	got = g.Nodes(slices.Values(paths))
	want = []Node{{Path: "a", Branch: true}, {Path: "b", Branch: true}}
	if !slices.Equal(got, want) {
		t.Fatalf("nodes: got %+v, want %+v", got, want)
	}
}

func TestGlobPrefixAndLiteral(t *testing.T) {
	for pat, want := range map[string]string{
		"servers.web.*.cpu": "servers.web.",
		"a.b.c":             "a.b.",
		"*.b":               "",
		"a.{b,c}.d":         "a.",
		"a.{b.x,b.y}":       "a.b.",
	} {
		g, err := CompileGlob(pat)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Prefix(); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", pat, got, want)
		}
	}
	g, _ := CompileGlob("a.{b,c}")
	if !g.Literal() || !slices.Equal(g.Paths(), []string{"a.b", "a.c"}) {
		t.Errorf("a.{b,c}: Literal %v, Paths %v", g.Literal(), g.Paths())
	}
	g, _ = CompileGlob("a.b*")
	if g.Literal() {
		t.Error("a.b* is not literal")
	}
}
