package cassandra

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/gocql/gocql"

	"ringrelay/sinks"
)

const (
	// maxBatchRows bounds an unlogged batch: 50 rows of ~80 bytes stay
	// below Cassandra's batch_size_warn_threshold (5 KiB).
	maxBatchRows = 50
	// writeParallelism is how many batches one WriteBatch has in flight:
	// most batches are one row (one bin per series per flush), so
	// throughput comes from concurrency (gocql multiplexes them on its
	// connections); 32 wrote 2.5 times what 8 did (BenchmarkWriteBatch).
	writeParallelism = 32
	// maxIndexNodes bounds the index cache; past it the cache starts
	// again empty (and the index rows are written once more).
	maxIndexNodes = 1 << 20
	// day is the index rows' TTL margin and longest rewrite interval.
	day = 24 * 60 * 60
	// root is the parent of top-level nodes in the paths table (a
	// partition key may not be empty; no path is ".").
	root = "."
)

// partitionBatch is one unlogged batch: statements for one partition.
type partitionBatch []gocql.BatchEntry

// WriteBatch writes pts: one unlogged batch per points partition (at most
// maxBatchRows rows each) and the path index rows not written lately,
// with up to writeParallelism batches in flight. An error means some
// batches were not written; trying again is harmless (every statement is
// an upsert). Called by the queue's writer goroutine only.
func (s *store) WriteBatch(ctx context.Context, pts []sinks.Point) error {
	sess, err := s.session()
	if err != nil {
		return err
	}
	now := s.now().Unix()
	batches := s.pointBatches(pts, now)
	nodes := s.index.missing(pts, now)
	batches = append(batches, s.indexBatches(nodes)...)
	err = runBatches(ctx, sess, batches)
	s.wrote(sess, err)
	if err != nil {
		return err
	}
	s.index.written(nodes, now)
	return nil
}

// pointBatches groups pts by partition, keeping the last of points with
// the same key (in one batch all rows share a write timestamp, and
// Cassandra would then keep the greater value, not the later one).
func (s *store) pointBatches(pts []sinks.Point, now int64) []partitionBatch {
	type key struct {
		path       string
		res, start int64
	}
	last := make(map[key]int, len(pts))
	for i := range pts {
		last[key{pts[i].Path, pts[i].Resolution, pts[i].Start}] = i
	}
	order := make([]int, 0, len(last))
	for _, i := range last {
		order = append(order, i)
	}
	// Sorted by partition then start, a partition's rows are adjacent.
	slices.SortFunc(order, func(a, b int) int {
		pa, pb := &pts[a], &pts[b]
		return cmp.Or(strings.Compare(pa.Path, pb.Path), cmp.Compare(pa.Resolution, pb.Resolution), cmp.Compare(pa.Start, pb.Start))
	})
	var out []partitionBatch
	var cur partitionBatch
	var curPath string
	var curRes, curBucket int64
	for _, i := range order {
		p := &pts[i]
		bucket := s.bucketOf(p.Start)
		if len(cur) == maxBatchRows || len(cur) > 0 && (p.Path != curPath || p.Resolution != curRes || bucket != curBucket) {
			out = append(out, cur)
			cur = nil
		}
		curPath, curRes, curBucket = p.Path, p.Resolution, bucket
		ttl := max(p.Start+s.retention[p.Resolution]-now, 1)
		cur = append(cur, gocql.BatchEntry{Stmt: s.stmts.insertPoint,
			Args: []any{p.Path, p.Resolution, bucket, p.Start, p.Count, p.Sum, p.Min, p.Max, p.Last, ttl}})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// indexBatches groups index rows by parent (their partition).
func (s *store) indexBatches(nodes []indexNode) []partitionBatch {
	slices.SortFunc(nodes, func(a, b indexNode) int { return strings.Compare(a.parent, b.parent) })
	var out []partitionBatch
	var cur partitionBatch
	for i, n := range nodes {
		if len(cur) == maxBatchRows || len(cur) > 0 && n.parent != nodes[i-1].parent {
			out = append(out, cur)
			cur = nil
		}
		stmt := s.stmts.insertBranch
		if n.leaf {
			stmt = s.stmts.insertLeaf
		}
		cur = append(cur, gocql.BatchEntry{Stmt: stmt, Args: []any{n.parent, n.name, s.index.ttl}})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// runBatches executes the batches, writeParallelism at a time; the first
// error stops the rest and is returned.
func runBatches(ctx context.Context, sess *gocql.Session, batches []partitionBatch) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan partitionBatch)
	var wg sync.WaitGroup
	for range min(writeParallelism, len(batches)) {
		wg.Go(func() {
			for entries := range work {
				b := sess.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
				b.Entries = entries
				if err := sess.ExecuteBatch(b); err != nil {
					cancel(err)
				}
			}
		})
	}
send:
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// indexNode is one row of the paths table: name under parent, a leaf (a
// stored series) or a branch (the prefix of longer ones).
type indexNode struct {
	parent, name string
	leaf         bool
}

// indexCache remembers which index rows were written and when each is
// due again, so that a path's rows are written once per refresh, not
// with every point.
type indexCache struct {
	ttl     int64 // seconds: the longest retention plus a day (at most maxTTL)
	refresh int64 // seconds between rewrites of a row
	due     map[indexNode]int64
}

func newIndexCache(longestRetention int64) *indexCache {
	return &indexCache{
		ttl:     min(longestRetention+day, sinks.Seconds(maxTTL)),
		refresh: min(day, max(longestRetention/2, 1)),
		due:     map[indexNode]int64{},
	}
}

// missing returns the index rows of pts' paths that are due, each once.
func (c *indexCache) missing(pts []sinks.Point, now int64) []indexNode {
	var out []indexNode
	seen := map[indexNode]bool{}
	for i := range pts {
		path := pts[i].Path
		parent := root
		for start := 0; start < len(path); {
			end := strings.IndexByte(path[start:], '.')
			n := indexNode{parent: parent, name: path[start:], leaf: true}
			if end >= 0 {
				n = indexNode{parent: parent, name: path[start : start+end]}
			}
			if !seen[n] && c.due[n] <= now {
				seen[n] = true
				out = append(out, n)
			}
			if end < 0 {
				break
			}
			parent = path[:start+end]
			start += end + 1
		}
	}
	return out
}

// written records rows as written at now.
func (c *indexCache) written(nodes []indexNode, now int64) {
	if len(c.due)+len(nodes) > maxIndexNodes {
		clear(c.due)
	}
	for _, n := range nodes {
		c.due[n] = now + c.refresh
	}
}
