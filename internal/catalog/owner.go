package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A file belongs to at most one good row (migration 0006): these are the
// catalog's side of that rule. See docs/BACKUP-PIPELINE.md, "Who owns a file".

// StemTaken says whether any row or attempt in progress, whatever its
// status, already uses a backup name starting with stem ("20260205_030015"):
// a new attempt must then take another name, so that no two attempts, not
// even a failed one and a good one, ever share a file name.
func (s *Store) StemTaken(ctx context.Context, stem string) (bool, error) {
	pattern := likeEscape(stem) + ".%"
	var taken bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM backup_executions WHERE filename LIKE $1)
		OR EXISTS (SELECT 1 FROM backup_attempts WHERE execution->>'filename' LIKE $1)`, pattern).Scan(&taken)
	if err != nil {
		return false, fmt.Errorf("read catalog: %w", err)
	}
	return taken, nil
}

// nameLock is the advisory lock under which backups claim their names:
// "RGZB"+4 (package lock uses "RGZB" to "RGZB"+3).
const nameLockClass, nameLockID = 0x52475a42 + 4, 0

// WithNameLock runs fn holding the catalog's name lock, on a connection
// of its own: a backup claims its file name (StemTaken) and begins its
// attempt under it, so that backups running at once never take one name.
func (s *Store) WithNameLock(ctx context.Context, fn func() error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to catalog: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, nameLockClass, nameLockID); err != nil {
		return fmt.Errorf("take the catalog's name lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, nameLockClass, nameLockID)
	}()
	return fn()
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Recorded is what RecordValid did with a backup's row.
type Recorded int

const (
	AlreadyRecorded Recorded = iota // a good row with this id was there: nothing changed
	Added                           // the row was missing and is now recorded
	Repaired                        // a failed row had the id of this valid backup: it now says success
)

// RecordValid records a backup known to be written and valid (its manifest
// says so and its file is there), whatever the catalog holds about it: a
// missing row is inserted, a row wrongly recorded as failed for the same
// id is replaced by the manifest's, a good row is left alone. The attempt
// row, if any, is ended in the same transaction. It is how the next run,
// the daemon's recovery and `catalog rebuild` record a backup whose own
// process could not.
func (s *Store) RecordValid(ctx context.Context, e *Execution) (Recorded, error) {
	e.defaults()
	var outcome Recorded
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status Status
		err := tx.QueryRow(ctx, `SELECT status FROM backup_executions WHERE id = $1 FOR UPDATE`, e.ID).Scan(&status)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, insertSQL, e.fields()...); err != nil {
				return err
			}
			outcome = Added
		case err != nil:
			return err
		case status == StatusFailed:
			if _, err := tx.Exec(ctx, replaceSQL, e.fields()...); err != nil {
				return err
			}
			outcome = Repaired
		default:
			outcome = AlreadyRecorded
		}
		_, err = tx.Exec(ctx, `DELETE FROM backup_attempts WHERE id = $1`, e.ID)
		return err
	})
	if err != nil {
		return outcome, fmt.Errorf("record backup %s in the catalog: %w", e.Filename, err)
	}
	return outcome, nil
}

// GoodRowOfRun returns the success or partial row of a run, if one of its
// attempts recorded one: a retry of a run whose backup is already there
// has nothing left to do.
func (s *Store) GoodRowOfRun(ctx context.Context, runID string) (Execution, error) {
	return s.one(ctx, "run_id::text = $1 AND status IN ('success', 'partial')", runID)
}

// EndAttempt removes an attempt's row without recording an outcome: for
// an attempt whose outcome another record already holds.
func (s *Store) EndAttempt(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM backup_attempts WHERE id = $1`, id); err != nil {
		return fmt.Errorf("end attempt %s: %w", id, err)
	}
	return nil
}

// GoodIDs says which of ids have a good (success or partial) row; a
// string that is no id has none.
func (s *Store) GoodIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	var valid []uuid.UUID
	for _, id := range ids {
		if u, err := uuid.Parse(id); err == nil {
			valid = append(valid, u)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM backup_executions
		WHERE id = ANY($1) AND status IN ('success', 'partial')`, valid)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	good := make(map[string]bool, len(found))
	for _, id := range found {
		good[id] = true
	}
	return good, nil
}
