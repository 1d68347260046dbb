package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"ringrelay/sinks"
)

const (
	// maxRowsPerStatement bounds a multi-row INSERT (8 values a row; the
	// protocol allows 65,535 placeholders and a statement stays well
	// below max_allowed_packet).
	maxRowsPerStatement = 1000
	// maxPathsPerStatement bounds the paths of one IN (...) or INSERT.
	maxPathsPerStatement = 500
	// maxCachedPaths bounds the id cache (roughly 100 bytes a path); past
	// it the cache starts again empty.
	maxCachedPaths = 1 << 20
)

// row is a point with its path's id.
type row struct {
	id uint64
	p  *sinks.Point
}

// WriteBatch upserts pts: the paths' ids (looked up, or inserted), then
// the points, at most maxRowsPerStatement a statement. A failure part way
// leaves some points written: trying the batch again is harmless, as
// every statement is an upsert. Called by the queue's writer goroutine
// only.
func (s *store) WriteBatch(ctx context.Context, pts []sinks.Point) error {
	if err := s.ensureSchema(ctx); err != nil {
		return err
	}
	if err := s.resolveIDs(ctx, pts); err != nil {
		s.forgetOnMissingTable(err)
		return err
	}
	rows := s.sortedRows(pts)
	for chunk := range slices.Chunk(rows, maxRowsPerStatement) {
		if err := s.upsert(ctx, chunk); err != nil {
			s.forgetOnMissingTable(err)
			return err
		}
	}
	clear(rows) // let the batch's points go
	return nil
}

// sortedRows pairs each point with its id, in key order (so that
// concurrent writers lock rows in one order), keeping only the last
// point of a key that occurs twice: the later one is the newer bin.
func (s *store) sortedRows(pts []sinks.Point) []row {
	rows := s.rows[:0]
	for i := range pts {
		rows = append(rows, row{id: s.ids[pts[i].Path], p: &pts[i]})
	}
	slices.SortStableFunc(rows, compareRows)
	out := rows[:0]
	for i, r := range rows {
		if i+1 < len(rows) && compareRows(r, rows[i+1]) == 0 {
			continue // a later point has the same key
		}
		out = append(out, r)
	}
	clear(rows[len(out):])
	s.rows = rows
	return out
}

func compareRows(a, b row) int {
	return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.p.Resolution, b.p.Resolution), cmp.Compare(a.p.Start, b.p.Start))
}

// upsert writes rows in one INSERT ... ON DUPLICATE KEY UPDATE.
func (s *store) upsert(ctx context.Context, rows []row) error {
	var q strings.Builder
	q.Grow(128 + len(rows)*len("(?,?,?,?,?,?,?,?),"))
	fmt.Fprintf(&q, "INSERT INTO `%s` (`path_id`,`resolution`,`start`,`count`,`sum`,`min`,`max`,`last`) VALUES ", s.tables.points)
	args := s.args[:0]
	for i, r := range rows {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?,?,?,?)")
		args = append(args, r.id, r.p.Resolution, r.p.Start, r.p.Count, r.p.Sum, r.p.Min, r.p.Max, r.p.Last)
	}
	q.WriteString(" ON DUPLICATE KEY UPDATE `count`=VALUES(`count`),`sum`=VALUES(`sum`),`min`=VALUES(`min`),`max`=VALUES(`max`),`last`=VALUES(`last`)")
	_, err := s.db.ExecContext(ctx, q.String(), args...)
	clear(args)
	s.args = args
	if err != nil {
		return fmt.Errorf("failed to upsert %d points into %q: %w", len(rows), s.tables.points, err)
	}
	return nil
}

// resolveIDs makes sure s.ids holds every path of pts: for the paths not
// cached it upserts their nodes (the path as a leaf, its prefixes as
// branches) and selects the paths' ids.
func (s *store) resolveIDs(ctx context.Context, pts []sinks.Point) error {
	if len(s.ids)+len(pts) > maxCachedPaths {
		clear(s.ids)
	}
	var missing []string
	seen := map[string]bool{}
	for i := range pts {
		p := pts[i].Path
		if _, ok := s.ids[p]; !ok && !seen[p] {
			seen[p] = true
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := s.upsertNodes(ctx, nodesOf(missing)); err != nil {
		return err
	}
	if err := s.selectIDs(ctx, missing); err != nil {
		return err
	}
	for _, p := range missing {
		if _, ok := s.ids[p]; !ok {
			return fmt.Errorf("path %q has no id in %q after inserting it", p, s.tables.paths)
		}
	}
	return nil
}

// pathNode is a row of the paths table.
type pathNode struct {
	path         string
	depth        int
	leaf, branch bool
}

// nodesOf returns the nodes that paths (stored series) make: each path a
// leaf, each of its prefixes a branch; one per path, in key order.
func nodesOf(paths []string) []pathNode {
	byPath := map[string]*pathNode{}
	add := func(p string, depth int, leaf bool) {
		n := byPath[p]
		if n == nil {
			n = &pathNode{path: p, depth: depth}
			byPath[p] = n
		}
		n.leaf = n.leaf || leaf
		n.branch = n.branch || !leaf
	}
	for _, p := range paths {
		depth := 1
		for i := range len(p) {
			if p[i] == '.' {
				add(p[:i], depth, false)
				depth++
			}
		}
		add(p, depth, true)
	}
	out := make([]pathNode, 0, len(byPath))
	for _, n := range byPath {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b pathNode) int { return cmp.Or(cmp.Compare(a.depth, b.depth), strings.Compare(a.path, b.path)) })
	return out
}

// upsertNodes inserts nodes, or marks existing ones leaf or branch as
// well (a node is never unmarked).
func (s *store) upsertNodes(ctx context.Context, nodes []pathNode) error {
	for chunk := range slices.Chunk(nodes, maxPathsPerStatement) {
		q := fmt.Sprintf("INSERT INTO `%s` (`depth`, `path`, `leaf`, `branch`) VALUES %s"+
			" ON DUPLICATE KEY UPDATE `leaf`=GREATEST(`leaf`, VALUES(`leaf`)), `branch`=GREATEST(`branch`, VALUES(`branch`))",
			s.tables.paths, placeholders(len(chunk), "(?,?,?,?)"))
		args := make([]any, 0, 4*len(chunk))
		for _, n := range chunk {
			args = append(args, n.depth, n.path, n.leaf, n.branch)
		}
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("failed to insert %d paths into %q: %w", len(chunk), s.tables.paths, err)
		}
	}
	return nil
}

// selectIDs caches the ids of paths.
func (s *store) selectIDs(ctx context.Context, paths []string) error {
	byDepth := map[int][]string{}
	for _, p := range paths {
		d := depthOf(p)
		byDepth[d] = append(byDepth[d], p)
	}
	for depth, ps := range byDepth {
		for chunk := range slices.Chunk(ps, maxPathsPerStatement) {
			q := fmt.Sprintf("SELECT `path`, `id` FROM `%s` WHERE `depth` = ? AND `path` IN (%s)", s.tables.paths, placeholders(len(chunk), "?"))
			err := s.each(ctx, q, append([]any{depth}, anys(chunk)...), func(rows *sql.Rows) error {
				var p string
				var id uint64
				if err := rows.Scan(&p, &id); err != nil {
					return err
				}
				s.ids[p] = id
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// depthOf is the number of segments of path.
func depthOf(path string) int { return strings.Count(path, ".") + 1 }

// placeholders is n copies of one, comma-separated.
func placeholders(n int, one string) string {
	return strings.TrimSuffix(strings.Repeat(one+",", n), ",")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
