package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"ringrelay/sinks"
)

// maxLikeTerms bounds the LIKE prefixes OR-ed in one find query; a
// pattern with more {...} variants scans from their common prefix.
const maxLikeTerms = 64

// find answers Reader.Find. Every node (leaf or branch) is a row of the
// paths table keyed by (depth, path), so the nodes a variant of the
// pattern can match are the rows of its depth: looked up by key when the
// variant is literal, else a range from the variant's literal start,
// matched against the glob here.
func (s *store) find(ctx context.Context, g *sinks.Glob) ([]sinks.Node, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	literals := map[int][]string{} // depth → literal variants
	scans := map[int][]string{}    // depth → literal starts of the other variants
	for _, v := range g.Paths() {
		if i := strings.IndexAny(v, "*?["); i >= 0 {
			scans[depthOf(v)] = append(scans[depthOf(v)], v[:i])
		} else {
			literals[depthOf(v)] = append(literals[depthOf(v)], v)
		}
	}
	found := map[string]*sinks.Node{}
	add := func(rows *sql.Rows) error {
		var n sinks.Node
		if err := rows.Scan(&n.Path, &n.Leaf, &n.Branch); err != nil {
			return err
		}
		if g.Match(n.Path) {
			if f := found[n.Path]; f != nil {
				n.Leaf, n.Branch = n.Leaf || f.Leaf, n.Branch || f.Branch
			}
			found[n.Path] = &n
		}
		return nil
	}
	sel := fmt.Sprintf("SELECT `path`, `leaf`, `branch` FROM `%s` WHERE `depth` = ?", s.tables.paths)
	for depth, paths := range literals {
		for chunk := range slices.Chunk(paths, maxPathsPerStatement) {
			q := sel + " AND `path` IN (" + placeholders(len(chunk), "?") + ")"
			if err := s.each(ctx, q, append([]any{depth}, anys(chunk)...), add); err != nil {
				return nil, err
			}
		}
	}
	for depth, starts := range scans {
		q, args := sel, []any{depth}
		if starts = coveringStarts(starts); !slices.Contains(starts, "") {
			q += " AND (" + strings.TrimSuffix(strings.Repeat("`path` LIKE ? ESCAPE '!' OR ", len(starts)), " OR ") + ")"
			for _, st := range starts {
				args = append(args, escapeLike(st)+"%")
			}
		}
		if err := s.each(ctx, q, args, add); err != nil {
			return nil, err
		}
	}
	out := make([]sinks.Node, 0, len(found))
	for _, p := range slices.Sorted(maps.Keys(found)) {
		out = append(out, *found[p])
	}
	return out, nil
}

// coveringStarts drops the starts that a shorter one covers (every path
// starting with "a.b" starts with "a."), and falls back to their common
// prefix when more than maxLikeTerms remain.
func coveringStarts(starts []string) []string {
	starts = slices.Clone(starts)
	slices.Sort(starts)
	out := starts[:0]
	for _, st := range starts {
		if len(out) > 0 && strings.HasPrefix(st, out[len(out)-1]) {
			continue
		}
		out = append(out, st)
	}
	if len(out) <= maxLikeTerms {
		return out
	}
	common := out[0]
	for _, st := range out[1:] {
		for !strings.HasPrefix(st, common) {
			common = common[:len(common)-1]
		}
	}
	return []string{common}
}

// likeEscaper makes a string match itself in a LIKE ... ESCAPE '!'
// pattern. ('!' rather than a backslash, whose meaning depends on the
// server's sql_mode.)
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

func escapeLike(s string) string { return likeEscaper.Replace(s) }

// each runs query q and hands every row to fn.
func (s *store) each(ctx context.Context, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("failed to query %q: %w", s.tables.paths, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("failed to read %q: %w", s.tables.paths, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("failed to read %q: %w", s.tables.paths, err)
	}
	return nil
}

// fetch answers Reader.Fetch, leaving out points older than the
// retention.
func (s *store) fetch(ctx context.Context, path string, res, from, until int64) ([]sinks.Point, error) {
	keep, ok := s.keep[res]
	if !ok {
		return nil, fmt.Errorf("resolution %ds is not one of the sink's times", res)
	}
	from = max(from, s.now().Unix()-keep)
	if from >= until {
		return nil, nil
	}
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	// FORCE INDEX: the primary key range (path_id, resolution, start) is
	// always the narrowest; on a small table the optimizer may prefer
	// the expiry index, which spans every path.
	q := fmt.Sprintf("SELECT p.`start`, p.`count`, p.`sum`, p.`min`, p.`max`, p.`last` FROM `%s` p FORCE INDEX (PRIMARY) JOIN `%s` n ON n.`id` = p.`path_id`"+
		" WHERE n.`depth` = ? AND n.`path` = ? AND p.`resolution` = ? AND p.`start` >= ? AND p.`start` < ? ORDER BY p.`start`", s.tables.points, s.tables.paths)
	rows, err := s.db.QueryContext(ctx, q, depthOf(path), path, res, from, until)
	if err != nil {
		return nil, fmt.Errorf("failed to query %q: %w", s.tables.points, err)
	}
	defer rows.Close()
	var out []sinks.Point
	for rows.Next() {
		p := sinks.Point{Path: path, Resolution: res}
		if err := rows.Scan(&p.Start, &p.Count, &p.Sum, &p.Min, &p.Max, &p.Last); err != nil {
			return nil, fmt.Errorf("failed to read %q: %w", s.tables.points, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed to read %q: %w", s.tables.points, err)
	}
	return out, nil
}
