package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Page is one page of pg_dump rows since since, newest first, after the
// row (date, id) of the previous page when afterID is set.
func (s *Store) Page(ctx context.Context, since time.Time, afterDate time.Time, afterID string, limit int, of Of) ([]Execution, error) {
	q := "SELECT " + strings.Join(columns, ", ") + ` FROM backup_executions
		WHERE backup_type = 'pg_dump' AND backup_date >= $1
		  AND ($2 = '' OR (backup_date, id::text) < ($3, $2))
		  AND ($5 = '' OR target_name = $5) AND ($6 = '' OR database_name = $6)
		ORDER BY backup_date DESC, id::text DESC LIMIT $4`
	return s.query(ctx, q, since, afterID, afterDate, limit, of.Target, of.Database)
}

// Of narrows a listing to one server's backups (Target), or one
// database's (Database); empty: any.
type Of struct{ Target, Database string }

// RunningRestoreTest names a restore test started since since and still
// running, if any.
func (s *Store) RunningRestoreTest(ctx context.Context, since time.Time) (string, bool, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id::text FROM backup_restore_tests WHERE status = 'running' AND started_at >= $1
		ORDER BY started_at DESC LIMIT 1`, since.UTC()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read running restore tests: %w", err)
	}
	return id, true, nil
}

// RestoreTest returns one restore test.
func (s *Store) RestoreTest(ctx context.Context, id string) (RestoreTest, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return RestoreTest{}, ErrNotFound
	}
	tests, err := s.restoreTests(ctx, "t.id = $1", 1, u)
	if err != nil {
		return RestoreTest{}, err
	}
	if len(tests) == 0 {
		return RestoreTest{}, ErrNotFound
	}
	return tests[0], nil
}

// Audit is one api_audit row: who asked what over HTTP (the API, the
// console), from where, and what was answered. Status 0 is an action
// recorded before it was done whose outcome never came (the process
// died, or the outcome could not be written).
type Audit struct {
	ID      int64
	At      time.Time
	Subject string
	Role    string
	Method  string
	Path    string
	Status  int
	Detail  string
	Client  string // the client's address
}

// InsertAudit records one row and returns its id.
func (s *Store) InsertAudit(ctx context.Context, a Audit) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO api_audit (at, subject, role, method, path, status, detail, client)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		a.At.UTC(), a.Subject, a.Role, a.Method, a.Path, a.Status, a.Detail, a.Client).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record API audit: %w", err)
	}
	return id, nil
}

// FinishAudit records the outcome of the action row id was written for.
func (s *Store) FinishAudit(ctx context.Context, id int64, status int, detail string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE api_audit SET status = $2, detail = $3 WHERE id = $1`, id, status, detail); err != nil {
		return fmt.Errorf("record API audit outcome: %w", err)
	}
	return nil
}

// AuditPage returns at most limit rows older than the row (at, id) of
// after (zero: from the newest), newest first.
func (s *Store) AuditPage(ctx context.Context, after Audit, limit int) ([]Audit, error) {
	where, args := "true", []any{limit}
	if after.ID != 0 {
		where, args = "(at, id) < ($2, $3)", append(args, after.At.UTC(), after.ID)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, subject, role, method, path, status, coalesce(detail, ''), coalesce(client, '')
		FROM api_audit WHERE `+where+` ORDER BY at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("read API audit: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Audit, error) {
		var a Audit
		return a, r.Scan(&a.ID, &a.At, &a.Subject, &a.Role, &a.Method, &a.Path, &a.Status, &a.Detail, &a.Client)
	})
}

// PruneAudit deletes the rows older than before and says how many.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_audit WHERE at < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune API audit: %w", err)
	}
	return tag.RowsAffected(), nil
}
