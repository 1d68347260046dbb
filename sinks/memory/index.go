package memory

import (
	"slices"
	"strings"

	"ringrelay/sinks"
)

// node is one path prefix in the tree of path segments that Find walks:
// a literal segment of a pattern is one map lookup, a wildcard segment
// matches the children of one node only, so a find costs what it could
// match, not the number of series. The Store's lock guards the tree.
type node struct {
	path     string           // full path up to this node; a substring of a series path
	parent   *node            // nil for the root
	children map[string]*node // by segment; nil until the first child
	series   *series          // the series with this path, if any
}

// add links s into the tree under its path, creating the nodes on the way.
// The node names are substrings of s.path, so they cost no copies.
func (root *node) add(s *series) {
	n := root
	rest, off := s.path, 0
	for {
		seg, tail, more := strings.Cut(rest, ".")
		off += len(seg)
		c := n.children[seg]
		if c == nil {
			c = &node{path: s.path[:off], parent: n}
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			n.children[seg] = c
		}
		n = c
		if !more {
			break
		}
		rest, off = tail, off+1
	}
	n.series = s
	s.node = n
}

// remove unlinks s and the nodes that lead to nothing else any more.
func (root *node) remove(s *series) {
	n := s.node
	n.series, s.node = nil, nil
	for n != root && n.series == nil && len(n.children) == 0 {
		p := n.parent
		delete(p.children, lastSegment(n.path))
		n = p
	}
}

func lastSegment(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

// find appends the nodes that the pattern's variants reach (see
// sinks.Glob.Paths), one per path, sorted by path.
func (root *node) find(g *sinks.Glob) []sinks.Node {
	var out []sinks.Node
	variants := g.Paths()
	for _, v := range variants {
		out = root.walk(strings.Split(v, "."), out)
	}
	slices.SortFunc(out, func(a, b sinks.Node) int { return strings.Compare(a.Path, b.Path) })
	if len(variants) > 1 { // variants may reach the same node
		out = slices.CompactFunc(out, func(a, b sinks.Node) bool { return a.Path == b.Path })
	}
	return out
}

// walk appends the nodes below n that segs match.
func (n *node) walk(segs []string, out []sinks.Node) []sinks.Node {
	if len(segs) == 0 {
		if n.series != nil || len(n.children) > 0 {
			out = append(out, sinks.Node{Path: n.path, Leaf: n.series != nil, Branch: len(n.children) > 0})
		}
		return out
	}
	seg := segs[0]
	if !strings.ContainsAny(seg, "*?[") {
		if c := n.children[seg]; c != nil {
			out = c.walk(segs[1:], out)
		}
		return out
	}
	for name, c := range n.children {
		if sinks.MatchSegment(seg, name) {
			out = c.walk(segs[1:], out)
		}
	}
	return out
}
