package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Summary is what the metrics need from the catalog: a handful of
// aggregates and the newest rows, computed by the database. Its cost does
// not grow with what is returned (one row each), only with a scan the
// database does, however long the history (rows are never deleted).
type Summary struct {
	Last            *Execution     // the newest run, if any
	LastSuccess     time.Time      // zero: never
	Runs            map[Status]int // rows by status
	LocalBackups    int            // good backups not deleted by retention
	LocalBytes      int64
	PartialBackups  int
	OldestPartial   time.Time // zero: none
	LastTest        *RestoreTest
	LastTestSuccess time.Time // end of the newest successful test; zero: none
	// LastTestSuccessSeconds is the newest successful test's duration: the
	// measured RTO; nil: none.
	LastTestSuccessSeconds *int
}

// Summary reads the Summary.
func (s *Store) Summary(ctx context.Context) (Summary, error) {
	sum := Summary{Runs: map[Status]int{}}
	var success, failed, partial int
	var lastSuccess, oldestPartial, lastTestSuccess *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE status = 'success'),
			count(*) FILTER (WHERE status = 'failed'),
			count(*) FILTER (WHERE status = 'partial'),
			max(backup_date) FILTER (WHERE status = 'success'),
			count(*) FILTER (WHERE status <> 'failed' AND deleted_at IS NULL),
			coalesce(sum(file_size_bytes) FILTER (WHERE status <> 'failed' AND deleted_at IS NULL), 0),
			min(backup_date) FILTER (WHERE status = 'partial'),
			(SELECT max(finished_at) FROM backup_restore_tests WHERE status = 'success'),
			(SELECT duration_seconds FROM backup_restore_tests WHERE status = 'success' ORDER BY finished_at DESC LIMIT 1)
		FROM backup_executions WHERE backup_type = 'pg_dump'`).Scan(
		&success, &failed, &partial, &lastSuccess, &sum.LocalBackups, &sum.LocalBytes, &oldestPartial, &lastTestSuccess, &sum.LastTestSuccessSeconds)
	if err != nil {
		return sum, fmt.Errorf("read catalog: %w", err)
	}
	sum.Runs[StatusSuccess], sum.Runs[StatusFailed], sum.Runs[StatusPartial] = success, failed, partial
	sum.PartialBackups = partial
	for dst, src := range map[*time.Time]*time.Time{&sum.LastSuccess: lastSuccess, &sum.OldestPartial: oldestPartial, &sum.LastTestSuccess: lastTestSuccess} {
		if src != nil {
			*dst = *src
		}
	}
	last, err := s.List(ctx, Filter{Limit: 1})
	if err != nil {
		return sum, err
	}
	if len(last) == 1 {
		sum.Last = &last[0]
	}
	test, err := s.LastRestoreTest(ctx)
	switch {
	case err == nil:
		sum.LastTest = &test
	case !errors.Is(err, ErrNotFound):
		return sum, err
	}
	return sum, nil
}

// Waiting is how many of the daemon's jobs of one kind are not done yet,
// and when the oldest was queued (zero: none).
type Waiting struct {
	Count  int
	Oldest time.Time
}

// JobsWaiting reads Waiting for a kind of job from River's table, which
// lives beside the catalog: for notifications, how long a mail has been
// failing to go out.
func (s *Store) JobsWaiting(ctx context.Context, kind string) (Waiting, error) {
	var w Waiting
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM river_job
		WHERE kind = $1 AND state IN ('available', 'pending', 'scheduled', 'retryable', 'running')`, kind).Scan(&w.Count, &oldest)
	if err != nil {
		return w, fmt.Errorf("read the queued %s jobs: %w", kind, err)
	}
	if oldest != nil {
		w.Oldest = *oldest
	}
	return w, nil
}
