package mysql

import (
	"context"
	"fmt"
	"time"

	"ringrelay/sinks"
)

// deleteChunk bounds the rows one DELETE removes, so that no statement
// holds its locks (and the writer) for long.
const deleteChunk = 10_000

// deleteExpired deletes, for each resolution, the rows whose bin started
// before now minus its retention, and returns how many it deleted. Rows
// of resolutions the sink does not keep (any more) are left alone: they
// may be another relay's.
func (s *store) deleteExpired(ctx context.Context, now time.Time) (int64, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return 0, err
	}
	q := fmt.Sprintf("DELETE FROM `%s` WHERE `resolution` = ? AND `start` < ? LIMIT %d", s.tables.points, deleteChunk)
	var total int64
	for _, r := range s.rets {
		res := sinks.Seconds(r.Resolution)
		cutoff := now.Unix() - sinks.Seconds(r.Retention)
		for {
			out, err := s.db.ExecContext(ctx, q, res, cutoff)
			if err != nil {
				return total, fmt.Errorf("failed to delete %ds points before %d from %q: %w", res, cutoff, s.tables.points, err)
			}
			n, err := out.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("failed to delete %ds points from %q: %w", res, s.tables.points, err)
			}
			total += n
			if n < deleteChunk {
				break
			}
		}
	}
	return total, nil
}
