package sinks

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxGlobVariants bounds what "{a,b}" alternatives may expand to.
const maxGlobVariants = 4096

// Glob is a compiled graphite path pattern, as graphite-web's finders
// read them: the pattern's {a,b,...} alternatives are expanded first (they
// may hold dots), then each variant is split on "." and every segment is
// matched as fnmatch does: "*" any run of characters, "?" one character,
// "[abc]", "[a-z]" and "[!a]" (or "[^a]") one character of (or not of) a
// set. No segment wildcard crosses a dot.
type Glob struct {
	pattern  string
	variants [][]string // segments of each variant
}

// CompileGlob compiles pattern; the error says what is wrong with it.
func CompileGlob(pattern string) (*Glob, error) {
	if pattern == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	vs, err := expandBraces(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	g := &Glob{pattern: pattern}
	for _, v := range vs {
		segs := strings.Split(v, ".")
		for _, s := range segs {
			if s == "" {
				return nil, fmt.Errorf("pattern %q: empty segment", pattern)
			}
			if err := checkSegment(s); err != nil {
				return nil, fmt.Errorf("pattern %q: %w", pattern, err)
			}
		}
		g.variants = append(g.variants, segs)
	}
	return g, nil
}

// String is the pattern as written.
func (g *Glob) String() string { return g.pattern }

// Match reports whether path matches the pattern, segment for segment.
func (g *Glob) Match(path string) bool {
	segs := strings.Split(path, ".")
	for _, v := range g.variants {
		if len(v) == len(segs) && matchSegments(v, segs) {
			return true
		}
	}
	return false
}

// Literal reports whether the pattern has no wildcard at all (it names
// paths, as "a.b.c" or "a.{b,c}").
func (g *Glob) Literal() bool {
	for _, v := range g.variants {
		for _, s := range v {
			if strings.ContainsAny(s, "*?[") {
				return false
			}
		}
	}
	return true
}

// Paths are the pattern's variants, its {...} alternatives expanded: when
// Literal, the paths it names; otherwise patterns whose dot-separated
// segments match path segments by MatchSegment (a store with a tree of
// path segments walks it with them).
func (g *Glob) Paths() []string {
	out := make([]string, 0, len(g.variants))
	for _, v := range g.variants {
		out = append(out, strings.Join(v, "."))
	}
	return out
}

// Prefix is the longest run of leading literal segments shared by every
// variant, with its trailing dot ("servers.web." for "servers.web.*.cpu"),
// or "": every path the pattern can find starts with it. Stores use it to
// narrow a scan.
func (g *Glob) Prefix() string {
	var out []string
	for i := 0; ; i++ {
		var seg string
		for j, v := range g.variants {
			if i >= len(v)-1 || strings.ContainsAny(v[i], "*?[") || j > 0 && v[i] != seg {
				return joinPrefix(out)
			}
			seg = v[i]
		}
		out = append(out, seg)
	}
}

func joinPrefix(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	return strings.Join(segs, ".") + "."
}

// Nodes returns the nodes the pattern finds among paths (every stored
// series' full path, in any order): each prefix of a path with as many
// segments as a variant that matches it, a Leaf when it is the whole path,
// a Branch when the path goes on. Sorted by Path, one per path.
func (g *Glob) Nodes(paths iter.Seq[string]) []Node {
	found := map[string]*Node{}
	for p := range paths {
		segs := strings.Split(p, ".")
		for _, v := range g.variants {
			if len(v) > len(segs) || !matchSegments(v, segs[:len(v)]) {
				continue
			}
			name := p
			if len(v) < len(segs) {
				name = strings.Join(segs[:len(v)], ".")
			}
			n := found[name]
			if n == nil {
				n = &Node{Path: name}
				found[name] = n
			}
			if len(v) == len(segs) {
				n.Leaf = true
			} else {
				n.Branch = true
			}
		}
	}
	out := make([]Node, 0, len(found))
	for _, n := range found {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func matchSegments(pat, segs []string) bool {
	for i, p := range pat {
		if !MatchSegment(p, segs[i]) {
			return false
		}
	}
	return true
}

// MatchSegment matches one segment (no dots) against one fnmatch pattern
// segment: "*", "?", "[...]" and literal characters. "?" and a class match
// one character (a UTF-8 sequence), not one byte.
func MatchSegment(pat, s string) bool {
	// Iterative with one backtrack point for the last '*' (as fnmatch).
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				_, w := utf8.DecodeRuneInString(s[sx:])
				px++
				sx += w
				continue
			case '[':
				r, w := utf8.DecodeRuneInString(s[sx:])
				if ok, n := matchClass(pat[px:], r); n > 0 {
					if ok {
						px += n
						sx += w
						continue
					}
				} else if s[sx] == '[' { // an unclosed '[' is literal
					px++
					sx++
					continue
				}
			default:
				if s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		px, sx = starP+1, starS
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

// matchClass matches c against the class at the start of pat ("[...]");
// n is the class's length in bytes, 0 when pat holds no closing ']'.
func matchClass(pat string, c rune) (ok bool, n int) {
	i := 1
	neg := false
	if i < len(pat) && (pat[i] == '!' || pat[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(pat) {
		if pat[i] == ']' && !first {
			return ok != neg, i + 1
		}
		first = false
		lo, w := utf8.DecodeRuneInString(pat[i:])
		i += w
		if i+1 < len(pat) && pat[i] == '-' && pat[i+1] != ']' {
			hi, w2 := utf8.DecodeRuneInString(pat[i+1:])
			if lo <= c && c <= hi {
				ok = true
			}
			i += 1 + w2
			continue
		}
		if lo == c {
			ok = true
		}
	}
	return false, 0
}

func checkSegment(s string) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', 0:
			return fmt.Errorf("segment %q holds a control character or space", s)
		}
	}
	return nil
}

// expandBraces expands every {a,b,...} (nested ones too) into the
// variants, in order; a '{' without its '}' is an error.
func expandBraces(p string) ([]string, error) {
	open := strings.IndexByte(p, '{')
	if open < 0 {
		if strings.IndexByte(p, '}') >= 0 {
			return nil, fmt.Errorf("'}' without '{'")
		}
		return []string{p}, nil
	}
	depth, end := 0, -1
	var cuts []int // top-level commas inside the braces
	for i := open; i < len(p) && end < 0; i++ {
		switch p[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				end = i
			}
		case ',':
			if depth == 1 {
				cuts = append(cuts, i)
			}
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("'{' without '}'")
	}
	var alts []string
	from := open + 1
	for _, c := range append(cuts, end) {
		alts = append(alts, p[from:c])
		from = c + 1
	}
	rest, err := expandBraces(p[end+1:])
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range alts {
		heads, err := expandBraces(p[:open] + a)
		if err != nil {
			return nil, err
		}
		for _, h := range heads {
			for _, r := range rest {
				out = append(out, h+r)
				if len(out) > maxGlobVariants {
					return nil, fmt.Errorf("its {...} alternatives expand to more than %d patterns", maxGlobVariants)
				}
			}
		}
	}
	return out, nil
}
