package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RestoreTest is one row of backup_restore_tests; JSON keys are its
// columns, plus the tested backup's file name.
type RestoreTest struct {
	ID              string     `json:"id"`
	BackupID        string     `json:"backup_id"`
	BackupFilename  string     `json:"backup_filename"`
	StartedAt       time.Time  `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	DurationSeconds *int       `json:"duration_seconds"`
	Status          string     `json:"status"` // running, success, failed
	ErrorMessage    *string    `json:"error_message"`
	Mismatches      []string   `json:"mismatches"`
	TriggeredBy     string     `json:"triggered_by"` // scheduled, manual, api
	ScratchDatabase *string    `json:"scratch_database"`
	Hostname        *string    `json:"hostname"`
	RestoreMode     *string    `json:"restore_mode"`
}

// BeginRestoreTest records a test as running (taking over the row the API
// made when it queued the test, if any).
func (s *Store) BeginRestoreTest(ctx context.Context, rt RestoreTest) error {
	if rt.Mismatches == nil {
		rt.Mismatches = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO backup_restore_tests (id, backup_id, started_at, status, mismatches, triggered_by,
		scratch_database, hostname) VALUES ($1, $2, $3, 'running', $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET backup_id = $2, started_at = $3, scratch_database = $6, hostname = $7`,
		rt.ID, rt.BackupID, rt.StartedAt.UTC(), rt.Mismatches, rt.TriggeredBy, rt.ScratchDatabase, rt.Hostname)
	if err != nil {
		return fmt.Errorf("record restore test: %w", err)
	}
	return nil
}

// FinishRestoreTest records a test's outcome, and on its backup's row
// restore_tested_at and restore_test_status, in one transaction.
func (s *Store) FinishRestoreTest(ctx context.Context, rt RestoreTest) error {
	if rt.Mismatches == nil {
		rt.Mismatches = []string{}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE backup_restore_tests SET finished_at = $2, duration_seconds = $3, status = $4,
			error_message = $5, mismatches = $6, restore_mode = $7 WHERE id = $1`,
			rt.ID, rt.FinishedAt, rt.DurationSeconds, rt.Status, rt.ErrorMessage, rt.Mismatches, rt.RestoreMode); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE backup_executions SET restore_tested_at = $2, restore_test_status = $3 WHERE id = $1`,
			rt.BackupID, rt.FinishedAt, rt.Status)
		return err
	})
	if err != nil {
		return fmt.Errorf("record restore test outcome: %w", err)
	}
	return nil
}

// RestoreTests returns the tests started since since, newest first.
func (s *Store) RestoreTests(ctx context.Context, since time.Time) ([]RestoreTest, error) {
	return s.restoreTests(ctx, "t.started_at >= $1", since.UTC())
}

func (s *Store) restoreTests(ctx context.Context, where string, arg any) ([]RestoreTest, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.id::text, t.backup_id::text, b.filename, t.started_at, t.finished_at,
		t.duration_seconds, t.status, t.error_message, t.mismatches, t.triggered_by, t.scratch_database, t.hostname, t.restore_mode
		FROM backup_restore_tests t JOIN backup_executions b ON b.id = t.backup_id
		WHERE `+where+` ORDER BY t.started_at DESC`, arg)
	if err != nil {
		return nil, fmt.Errorf("read restore tests: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RestoreTest, error) {
		var t RestoreTest
		err := r.Scan(&t.ID, &t.BackupID, &t.BackupFilename, &t.StartedAt, &t.FinishedAt, &t.DurationSeconds, &t.Status,
			&t.ErrorMessage, &t.Mismatches, &t.TriggeredBy, &t.ScratchDatabase, &t.Hostname, &t.RestoreMode)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read restore tests: %w", err)
	}
	return out, nil
}
