package catalog

import (
	"context"
	"fmt"
	"github.com/google/uuid"
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
	Status          TestStatus `json:"status"` // running, success, failed
	ErrorMessage    *string    `json:"error_message"`
	Mismatches      []string   `json:"mismatches"`
	TriggeredBy     Trigger    `json:"triggered_by"` // scheduled, manual, api
	ScratchDatabase *string    `json:"scratch_database"`
	ScratchServer   *string    `json:"scratch_server"` // HOST:PORT of the restore-test server
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
		scratch_database, hostname, scratch_server) VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET backup_id = $2, started_at = $3, scratch_database = $6, hostname = $7, scratch_server = $8`,
		rt.ID, rt.BackupID, rt.StartedAt.UTC(), rt.Mismatches, rt.TriggeredBy, rt.ScratchDatabase, rt.Hostname, rt.ScratchServer)
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

// RunningRestoreTests returns every test recorded as running, newest first.
func (s *Store) RunningRestoreTests(ctx context.Context) ([]RestoreTest, error) {
	return s.restoreTests(ctx, "t.status = 'running'", 0)
}

// AbandonRestoreTest records as failed a test whose process died, or that
// could not be queued: the test's row only, not its backup's
// restore_test_status (the backup was never found wanting).
func (s *Store) AbandonRestoreTest(ctx context.Context, id string, at time.Time, why string) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_restore_tests SET status = 'failed', finished_at = $2, error_message = $3,
		duration_seconds = greatest(0, extract(epoch FROM $2::timestamp - started_at))::int WHERE id = $1 AND status = 'running'`,
		id, at.UTC(), why)
	if err != nil {
		return fmt.Errorf("record abandoned restore test: %w", err)
	}
	return nil
}

// DeleteRestoreTest removes the record of a test that was never queued.
func (s *Store) DeleteRestoreTest(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM backup_restore_tests WHERE id = $1 AND status = 'running'`, id); err != nil {
		return fmt.Errorf("remove the record of a test not queued: %w", err)
	}
	return nil
}

// RestoreTests returns the tests started since since, newest first.
func (s *Store) RestoreTests(ctx context.Context, since time.Time) ([]RestoreTest, error) {
	return s.restoreTests(ctx, "t.started_at >= $1", 0, since.UTC())
}

// RestoreTestsOf returns one backup's tests, newest first.
func (s *Store) RestoreTestsOf(ctx context.Context, backupID string) ([]RestoreTest, error) {
	if uuid.Validate(backupID) != nil {
		return nil, nil
	}
	return s.restoreTests(ctx, "t.backup_id = $1::uuid", 0, backupID)
}

// LastRestoreTest returns the newest restore test; ErrNotFound when none.
func (s *Store) LastRestoreTest(ctx context.Context) (RestoreTest, error) {
	tests, err := s.restoreTests(ctx, "true", 1)
	if err != nil {
		return RestoreTest{}, err
	}
	if len(tests) == 0 {
		return RestoreTest{}, ErrNotFound
	}
	return tests[0], nil
}

// restoreTests reads the tests matching where, newest first, at most
// limit of them (0: all).
func (s *Store) restoreTests(ctx context.Context, where string, limit int, args ...any) ([]RestoreTest, error) {
	if limit > 0 {
		where += fmt.Sprintf(" ORDER BY t.started_at DESC LIMIT %d", limit)
	} else {
		where += " ORDER BY t.started_at DESC"
	}
	rows, err := s.pool.Query(ctx, `SELECT t.id::text, t.backup_id::text, b.filename, t.started_at, t.finished_at,
		t.duration_seconds, t.status, t.error_message, t.mismatches, t.triggered_by, t.scratch_database, t.hostname, t.restore_mode, t.scratch_server
		FROM backup_restore_tests t JOIN backup_executions b ON b.id = t.backup_id
		WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read restore tests: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RestoreTest, error) {
		var t RestoreTest
		err := r.Scan(&t.ID, &t.BackupID, &t.BackupFilename, &t.StartedAt, &t.FinishedAt, &t.DurationSeconds, &t.Status,
			&t.ErrorMessage, &t.Mismatches, &t.TriggeredBy, &t.ScratchDatabase, &t.Hostname, &t.RestoreMode, &t.ScratchServer)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read restore tests: %w", err)
	}
	return out, nil
}

// ImportRestoreTest records a finished restore test kept beside its backup
// (`catalog rebuild`): inserted when missing, and the backup's
// restore_tested_at and restore_test_status follow it when it is the
// newest test of that backup. It reports whether it inserted the test.
func (s *Store) ImportRestoreTest(ctx context.Context, rt RestoreTest) (bool, error) {
	if rt.Mismatches == nil {
		rt.Mismatches = []string{}
	}
	var inserted bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO backup_restore_tests (id, backup_id, started_at, finished_at, duration_seconds,
			status, error_message, mismatches, triggered_by, scratch_database, hostname, restore_mode, scratch_server)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`,
			rt.ID, rt.BackupID, rt.StartedAt, rt.FinishedAt, rt.DurationSeconds, rt.Status, rt.ErrorMessage, rt.Mismatches,
			rt.TriggeredBy, rt.ScratchDatabase, rt.Hostname, rt.RestoreMode, rt.ScratchServer)
		if err != nil {
			return err
		}
		inserted = tag.RowsAffected() == 1
		_, err = tx.Exec(ctx, `UPDATE backup_executions SET restore_tested_at = $2, restore_test_status = $3
			WHERE id = $1 AND (restore_tested_at IS NULL OR restore_tested_at < $2)`, rt.BackupID, rt.FinishedAt, rt.Status)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record restore test %s: %w", rt.ID, err)
	}
	return inserted, nil
}
