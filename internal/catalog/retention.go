package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetClass makes a backup a compliance (or daily) copy kept until until.
func (s *Store) SetClass(ctx context.Context, id string, class RetentionClass, until time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_executions SET retention_class = $2, retention_until = $3 WHERE id = $1`,
		id, class, &Date{Time: until})
	if err != nil {
		return fmt.Errorf("set retention class of %s: %w", id, err)
	}
	return nil
}

// MarkDeleted records that retention removed a backup's local files.
func (s *Store) MarkDeleted(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_executions SET deleted_at = $2 WHERE id = $1`, id, at.UTC())
	if err != nil {
		return fmt.Errorf("mark %s deleted: %w", id, err)
	}
	return nil
}

// MarkS3Deleted records that retention removed a backup's S3 objects.
func (s *Store) MarkS3Deleted(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_executions SET s3_deleted_at = $2 WHERE id = $1`, id, at.UTC())
	if err != nil {
		return fmt.Errorf("mark %s deleted from S3: %w", id, err)
	}
	return nil
}

// BeingRestored lists the backups a restore test started since since is
// still reading (status running). Older running rows are taken for dead
// tests, so that a crashed test cannot pin a backup forever.
func (s *Store) BeingRestored(ctx context.Context, since time.Time) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT backup_id::text FROM backup_restore_tests WHERE status = 'running' AND started_at >= $1`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("read running restore tests: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read running restore tests: %w", err)
	}
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// SetArchived records a verified copy in the BACKUP_S3_* bucket:
// archive_s3_path and how long S3 keeps it. The status is the caller's
// (SetSuccess once every copy is there).
func (s *Store) SetArchived(ctx context.Context, id, s3Path string, until time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_executions SET archive_s3_path = $2, s3_retention_until = $3 WHERE id = $1`,
		id, s3Path, &Date{Time: until})
	if err != nil {
		return fmt.Errorf("record the S3 copy of %s: %w", id, err)
	}
	return nil
}

// SetPartial records that a good local backup lacks a copy, and why.
func (s *Store) SetPartial(ctx context.Context, id, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_executions SET status = 'partial', error_message = $2 WHERE id = $1`, id, reason)
	if err != nil {
		return fmt.Errorf("mark %s partial: %w", id, err)
	}
	return nil
}

// RunAttempts returns the attempts of one run (its rows sharing run_id),
// oldest first.
func (s *Store) RunAttempts(ctx context.Context, runID string) ([]Execution, error) {
	return s.query(ctx, "SELECT "+strings.Join(columns, ", ")+" FROM backup_executions WHERE run_id::text = $1 ORDER BY attempt, created_at", runID)
}
