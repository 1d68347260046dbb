package cassandra

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"ringrelay/sinks"
)

// fetch reads path's points at res in [from, until): one query per
// bucket the range spans, clamped to the retention around now (nothing
// older is kept; a bin further in the future is a broken clock).
func (s *store) fetch(ctx context.Context, path string, res, from, until int64) ([]sinks.Point, error) {
	ret, ok := s.retention[res]
	if !ok {
		return nil, fmt.Errorf("resolution %ds is not one of the sink's times", res)
	}
	now := s.now().Unix()
	from, until = max(from, now-ret), min(until, now+ret)
	if from >= until {
		return nil, nil
	}
	sess, err := s.session()
	if err != nil {
		return nil, err
	}
	var out []sinks.Point
	for bucket := s.bucketOf(from); bucket < until; bucket += s.bucket {
		iter := sess.Query(s.stmts.selectPoints, path, res, bucket, from, until).WithContext(ctx).Iter()
		p := sinks.Point{Path: path, Resolution: res}
		for iter.Scan(&p.Start, &p.Count, &p.Sum, &p.Min, &p.Max, &p.Last) {
			out = append(out, p)
		}
		if err := iter.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bucketOf is the start of the bucket holding t (floored, also before
// 1970).
func (s *store) bucketOf(t int64) int64 { return t - ((t%s.bucket)+s.bucket)%s.bucket }

// find walks the paths table down every variant of the pattern: at each
// level it reads the children of the nodes that matched so far that can
// match the variant's segment: the one row named by a literal segment,
// or the parent's whole partition for a wildcard (each read once per
// find).
func (s *store) find(ctx context.Context, pattern *sinks.Glob) ([]sinks.Node, error) {
	sess, err := s.session()
	if err != nil {
		return nil, err
	}
	read := map[[2]string][]child{} // by parent and literal segment ("" for all)
	children := func(parent, seg string) ([]child, error) {
		if strings.ContainsAny(seg, "*?[") {
			seg = ""
		}
		if c, ok := read[[2]string{parent, seg}]; ok {
			return c, nil
		}
		q := sess.Query(s.stmts.selectChildren, parent)
		if seg != "" {
			q = sess.Query(s.stmts.selectChild, parent, seg)
		}
		iter := q.WithContext(ctx).Iter()
		var c []child
		var ch child
		for iter.Scan(&ch.name, &ch.leaf, &ch.branch) {
			c = append(c, ch)
		}
		if err := iter.Close(); err != nil {
			return nil, err
		}
		read[[2]string{parent, seg}] = c
		return c, nil
	}
	found := map[string]*sinks.Node{}
	for _, variant := range pattern.Paths() {
		if err := walk(strings.Split(variant, "."), children, found); err != nil {
			return nil, err
		}
	}
	out := make([]sinks.Node, 0, len(found))
	for _, n := range found {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b sinks.Node) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// child is a row of the paths table under a parent.
type child struct {
	name         string
	leaf, branch bool
}

// walk adds to found the nodes matching segs, descending from the root
// through branches whose names match segment by segment.
func walk(segs []string, children func(parent, seg string) ([]child, error), found map[string]*sinks.Node) error {
	frontier := []string{root}
	for depth, seg := range segs {
		last := depth == len(segs)-1
		var next []string
		for _, parent := range frontier {
			kids, err := children(parent, seg)
			if err != nil {
				return err
			}
			for _, k := range kids {
				if !sinks.MatchSegment(seg, k.name) {
					continue
				}
				path := k.name
				if parent != root {
					path = parent + "." + k.name
				}
				switch {
				case last && (k.leaf || k.branch):
					n := found[path]
					if n == nil {
						n = &sinks.Node{Path: path}
						found[path] = n
					}
					n.Leaf = n.Leaf || k.leaf
					n.Branch = n.Branch || k.branch
				case !last && k.branch:
					next = append(next, path)
				}
			}
		}
		frontier = next
	}
	return nil
}
