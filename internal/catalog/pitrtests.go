package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PITRTestKind is why a point-in-time recovery restore test restored to
// the moment it did (pitr_restore_tests.kind).
type PITRTestKind string

const (
	PITRTestRandom PITRTestKind = "random" // a moment drawn from the window
	PITRTestOldest PITRTestKind = "oldest" // the oldest restorable moment (once a month)
	PITRTestChosen PITRTestKind = "chosen" // a person's: restore-test --pitr --to, the API's "to"
)

// PITRRequested is the status of a test asked of the daemon and not yet
// begun.
const PITRRequested TestStatus = "requested"

// PITRRestoreTest is one point-in-time recovery restore test (table
// pitr_restore_tests); JSON keys are its columns.
type PITRRestoreTest struct {
	ID              uuid.UUID    `json:"id"`
	SystemID        uint64       `json:"system_id,string"` // 0 while requested
	Kind            PITRTestKind `json:"kind"`
	Status          TestStatus   `json:"status"` // requested, running, success, failed
	TriggeredBy     Trigger      `json:"triggered_by"`
	Target          *time.Time   `json:"target_time"`
	BaseBackupID    *uuid.UUID   `json:"base_backup_id"`
	BaseBackupLabel string       `json:"base_backup_label"`
	StartedAt       time.Time    `json:"started_at"`
	FinishedAt      *time.Time   `json:"finished_at"`
	ReachedTime     *time.Time   `json:"reached_time"`
	ReachedLSN      string       `json:"reached_lsn"`
	Timeline        uint32       `json:"timeline"`
	FetchSeconds    float64      `json:"fetch_seconds"`
	ReplaySeconds   float64      `json:"replay_seconds"`
	ReplayBytes     int64        `json:"replay_bytes"`
	RTOSeconds      float64      `json:"rto_seconds"`
	HeartbeatBefore *time.Time   `json:"heartbeat_before"`
	HeartbeatAfter  *time.Time   `json:"heartbeat_after"`
	IndexesChecked  int          `json:"indexes_checked"`
	Problems        []string     `json:"problems"`
	Error           string       `json:"error_message"`
	Hostname        string       `json:"hostname"`
	PID             int          `json:"pid"`
}

// RequestPITRRestoreTest asks the daemon for a test ('requested'), to the
// moment to (nil: the daemon chooses); it returns the row's ID.
func (s *Store) RequestPITRRestoreTest(ctx context.Context, to *time.Time, by Trigger, at time.Time, host string, pid int) (uuid.UUID, error) {
	id := uuid.New()
	kind := PITRTestRandom
	if to != nil {
		kind = PITRTestChosen
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO pitr_restore_tests (id, kind, status, triggered_by, target_time, started_at, hostname, pid)
		VALUES ($1, $2, 'requested', $3, $4, $5, $6, $7)`, id, kind, by, to, at.UTC(), host, pid)
	if err != nil {
		return id, fmt.Errorf("record the requested restore test: %w", err)
	}
	return id, nil
}

// ErrNotRequested is BeginPITRRestoreTest's error when the row it was to
// take over is no longer requested (another replica took it).
var ErrNotRequested = errors.New("the requested restore test was taken by another process")

// BeginPITRRestoreTest records a test as running: a new row, or the
// requested one with the same ID, which only one process takes. Its
// caller holds the tests' lock (lock.ForPITRTest), so any other test
// still 'running' was interrupted (its process died), and a test
// requested whose job is gone from the queue will never run: both are
// marked failed, saying so.
func (s *Store) BeginPITRRestoreTest(ctx context.Context, t PITRRestoreTest) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE pitr_restore_tests SET status = 'failed', finished_at = $2,
				error_message = 'interrupted: the process running it stopped before it ended'
			WHERE status = 'running' AND id <> $1`, t.ID, t.StartedAt.UTC()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE pitr_restore_tests r SET status = 'failed', finished_at = $2,
				error_message = 'never run: its job left the queue (a daemon stopped or crashed while it waited)'
			WHERE status = 'requested' AND id <> $1 AND NOT EXISTS (SELECT FROM river_job j
				WHERE j.kind = 'rgz.backup.pitr_restore_test' AND j.args->>'test_id' = r.id::text
				AND j.state IN ('available', 'pending', 'scheduled', 'running', 'retryable'))`, t.ID, t.StartedAt.UTC()); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO pitr_restore_tests (id, system_id, kind, status, triggered_by, target_time,
				base_backup_id, base_backup_label, started_at, hostname, pid)
			VALUES ($1, nullif($2::text::numeric, 0), $3, 'running', $4, $5, $6, nullif($7, ''), $8, $9, $10)
			ON CONFLICT (id) DO UPDATE SET system_id = excluded.system_id, kind = excluded.kind, status = 'running',
				target_time = excluded.target_time, base_backup_id = excluded.base_backup_id,
				base_backup_label = excluded.base_backup_label, started_at = excluded.started_at,
				hostname = excluded.hostname, pid = excluded.pid
			WHERE pitr_restore_tests.status = 'requested'`,
			t.ID, fmt.Sprint(t.SystemID), t.Kind, t.TriggeredBy, t.Target, t.BaseBackupID, t.BaseBackupLabel,
			t.StartedAt.UTC(), t.Hostname, t.PID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotRequested
		}
		return nil
	})
}

// FinishPITRRestoreTest records a test's outcome, and on its base
// backup's row restore_tested_at and restore_test_status, in one
// transaction.
func (s *Store) FinishPITRRestoreTest(ctx context.Context, t PITRRestoreTest) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE pitr_restore_tests SET status = $2, finished_at = $3, system_id = nullif($4::text::numeric, 0),
				kind = $5, target_time = $6, base_backup_id = $7, base_backup_label = nullif($8, ''),
				reached_time = $9, reached_lsn = nullif($10, '')::pg_lsn, timeline = nullif($11::integer, 0),
				fetch_seconds = $12, replay_seconds = $13, replay_bytes = $14, rto_seconds = $15,
				heartbeat_before = $16, heartbeat_after = $17, indexes_checked = $18, problems = $19,
				error_message = nullif($20, '')
			WHERE id = $1`,
			t.ID, t.Status, t.FinishedAt, fmt.Sprint(t.SystemID), t.Kind, t.Target, t.BaseBackupID, t.BaseBackupLabel,
			t.ReachedTime, t.ReachedLSN, int64(t.Timeline), t.FetchSeconds, t.ReplaySeconds, t.ReplayBytes, t.RTOSeconds,
			t.HeartbeatBefore, t.HeartbeatAfter, t.IndexesChecked, nonNil(t.Problems), t.Error)
		if err != nil || t.BaseBackupID == nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE pitr_base_backups SET restore_tested_at = $2, restore_test_status = $3 WHERE id = $1`,
			*t.BaseBackupID, t.FinishedAt, t.Status)
		return err
	})
}

// PITRRestoreTests are the tests started since since, newest first.
func (s *Store) PITRRestoreTests(ctx context.Context, since time.Time) ([]PITRRestoreTest, error) {
	return s.pitrTests(ctx, "started_at >= $1", since.UTC())
}

// LastPITRRestoreTest is the newest test that has ended (with success:
// the newest that succeeded); ErrNotFound when there is none.
func (s *Store) LastPITRRestoreTest(ctx context.Context, success bool) (PITRRestoreTest, error) {
	where := "status IN ('success', 'failed') ORDER BY finished_at DESC LIMIT $1"
	if success {
		where = "status = 'success' ORDER BY finished_at DESC LIMIT $1"
	}
	tests, err := s.pitrTests(ctx, where, 1)
	if err != nil || len(tests) == 0 {
		return PITRRestoreTest{}, cmpErr(err, ErrNotFound)
	}
	return tests[0], nil
}

// LastPITRRestoreTests are each cluster's newest test that has ended
// (with success: that succeeded), by system identifier.
func (s *Store) LastPITRRestoreTests(ctx context.Context, success bool) (map[uint64]PITRRestoreTest, error) {
	status := "('success', 'failed')"
	if success {
		status = "('success')"
	}
	tests, err := s.pitrTests(ctx, `id IN (SELECT DISTINCT ON (system_id) id FROM pitr_restore_tests
		WHERE system_id IS NOT NULL AND status IN `+status+` ORDER BY system_id, finished_at DESC)`)
	if err != nil {
		return nil, err
	}
	out := map[uint64]PITRRestoreTest{}
	for _, t := range tests {
		out[t.SystemID] = t
	}
	return out, nil
}

// PITRRestoreTest is one test, by ID (ErrNotFound when there is none).
func (s *Store) PITRRestoreTest(ctx context.Context, id string) (PITRRestoreTest, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return PITRRestoreTest{}, ErrNotFound
	}
	tests, err := s.pitrTests(ctx, "id = $1", u)
	if err != nil || len(tests) == 0 {
		return PITRRestoreTest{}, cmpErr(err, ErrNotFound)
	}
	return tests[0], nil
}

// DropPITRRequest removes a requested test that was never queued (the
// queue already held one).
func (s *Store) DropPITRRequest(ctx context.Context, id uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM pitr_restore_tests WHERE id = $1 AND status = 'requested'`, id)
	return err
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// pitrTests are the tests where where says (its own ORDER BY and LIMIT,
// or newest first).
func (s *Store) pitrTests(ctx context.Context, where string, args ...any) ([]PITRRestoreTest, error) {
	if !strings.Contains(where, "ORDER BY") {
		where += " ORDER BY started_at DESC, id"
	}
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(system_id::text, '0'), kind, status, triggered_by, target_time,
			base_backup_id, coalesce(base_backup_label, ''), started_at, finished_at, reached_time,
			coalesce(reached_lsn::text, ''), coalesce(timeline, 0), coalesce(fetch_seconds, 0), coalesce(replay_seconds, 0),
			coalesce(replay_bytes, 0), coalesce(rto_seconds, 0), heartbeat_before, heartbeat_after,
			coalesce(indexes_checked, 0), problems, coalesce(error_message, ''), hostname, pid
		FROM pitr_restore_tests WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read the point-in-time restore tests: %w", err)
	}
	tests, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PITRRestoreTest, error) {
		var t PITRRestoreTest
		var id string
		var tli int64
		err := r.Scan(&t.ID, &id, &t.Kind, &t.Status, &t.TriggeredBy, &t.Target, &t.BaseBackupID, &t.BaseBackupLabel,
			&t.StartedAt, &t.FinishedAt, &t.ReachedTime, &t.ReachedLSN, &tli, &t.FetchSeconds, &t.ReplaySeconds,
			&t.ReplayBytes, &t.RTOSeconds, &t.HeartbeatBefore, &t.HeartbeatAfter, &t.IndexesChecked, &t.Problems,
			&t.Error, &t.Hostname, &t.PID)
		if err != nil {
			return t, err
		}
		t.Timeline = uint32(tli)
		t.SystemID, err = strconv.ParseUint(id, 10, 64)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the point-in-time restore tests: %w", err)
	}
	return tests, nil
}

// OldestTestedSince says whether cluster systemID has had a successful
// test of its oldest restorable moment since since.
func (s *Store) OldestTestedSince(ctx context.Context, systemID uint64, since time.Time) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pitr_restore_tests WHERE system_id = $1::text::numeric
		AND kind = 'oldest' AND status = 'success' AND started_at >= $2`, fmt.Sprint(systemID), since.UTC()).Scan(&n)
	return n > 0, err
}

// ArchiveCheck is one daily check of a cluster's archive (table
// pitr_archive_checks).
type ArchiveCheck struct {
	ID           uuid.UUID  `json:"id"`
	SystemID     uint64     `json:"system_id,string"`
	CheckedAt    time.Time  `json:"checked_at"`
	Status       TestStatus `json:"status"`   // success, failed
	Gaps         []string   `json:"gaps"`     // every gap, said (a known one says so)
	Problems     []string   `json:"problems"` // what failed the check: an unknown gap, a file missing or different
	FilesSampled int        `json:"files_sampled"`
	Places       int        `json:"places"`
	Hostname     string     `json:"hostname"`
}

// RecordArchiveCheck records a check.
func (s *Store) RecordArchiveCheck(ctx context.Context, c ArchiveCheck) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO pitr_archive_checks (id, system_id, checked_at, status, gaps, problems, files_sampled, places, hostname)
		VALUES ($1, $2::text::numeric, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, fmt.Sprint(c.SystemID), c.CheckedAt.UTC(), c.Status, nonNil(c.Gaps), nonNil(c.Problems), c.FilesSampled, c.Places, c.Hostname)
	if err != nil {
		return fmt.Errorf("record the archive's check: %w", err)
	}
	return nil
}

// LastArchiveChecks are each cluster's newest check.
func (s *Store) LastArchiveChecks(ctx context.Context) ([]ArchiveCheck, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (system_id) id, system_id::text, checked_at, status, gaps, problems, files_sampled, places, hostname
		FROM pitr_archive_checks ORDER BY system_id, checked_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("read the archives' checks: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ArchiveCheck, error) {
		var c ArchiveCheck
		var id string
		if err := r.Scan(&c.ID, &id, &c.CheckedAt, &c.Status, &c.Gaps, &c.Problems, &c.FilesSampled, &c.Places, &c.Hostname); err != nil {
			return c, err
		}
		var err error
		c.SystemID, err = strconv.ParseUint(id, 10, 64)
		return c, err
	})
}
