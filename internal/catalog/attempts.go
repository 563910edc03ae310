package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Attempt is a backup attempt in progress (table backup_attempts).
type Attempt struct {
	Execution Execution // the row the attempt will record, as it began
	StartedAt time.Time
	Hostname  string
	PID       int
	JobID     int64 // 0: not run by a daemon job
	// Progress while pg_dump streams (RecordProgress); zero before.
	RawBytes, StoredBytes int64
	ProgressAt            time.Time
}

// RecordProgress notes how far a running attempt is.
func (s *Store) RecordProgress(ctx context.Context, id string, raw, stored int64, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_attempts SET raw_bytes = $2, stored_bytes = $3, progress_at = $4 WHERE id = $1`, id, raw, stored, at.UTC())
	if err != nil {
		return fmt.Errorf("record the attempt's progress: %w", err)
	}
	return nil
}

// BeginAttempt records that an attempt has started. Insert of the same id
// ends it.
func (s *Store) BeginAttempt(ctx context.Context, a Attempt) error {
	row, err := json.Marshal(a.Execution)
	if err != nil {
		return err
	}
	var jobID *int64
	if a.JobID != 0 {
		jobID = &a.JobID
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO backup_attempts (id, started_at, hostname, pid, job_id, execution) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.Execution.ID, a.StartedAt, a.Hostname, a.PID, jobID, row)
	if err != nil {
		return fmt.Errorf("record the attempt's start in the catalog: %w", err)
	}
	return nil
}

// Attempts lists the attempts in progress, oldest first. Whether their
// processes are alive is the backup lock's to say.
func (s *Store) Attempts(ctx context.Context) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT started_at, coalesce(hostname, ''), coalesce(pid, 0), coalesce(job_id, 0), execution,
		coalesce(raw_bytes, 0), coalesce(stored_bytes, 0), progress_at FROM backup_attempts ORDER BY started_at`)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		var row []byte
		var at *time.Time
		if err := r.Scan(&a.StartedAt, &a.Hostname, &a.PID, &a.JobID, &row, &a.RawBytes, &a.StoredBytes, &at); err != nil {
			return a, err
		}
		if at != nil {
			a.ProgressAt = *at
		}
		return a, json.Unmarshal(row, &a.Execution)
	})
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return out, nil
}

// insertSQL records one execution; replaceSQL rewrites every column of the
// row with the same id ($1). Both take Execution.fields().
var insertSQL, replaceSQL = func() (string, string) {
	placeholders := make([]string, len(columns))
	for i := range columns {
		placeholders[i] = fmt.Sprintf("$%d", i+1)
	}
	cols, values := strings.Join(columns, ", "), strings.Join(placeholders, ", ")
	return "INSERT INTO backup_executions (" + cols + ") VALUES (" + values + ")",
		"UPDATE backup_executions SET (" + cols + ") = ROW(" + values + ") WHERE id = $1"
}()

// SetRetryAt records, on a failed attempt's row, when its run's next
// attempt is due: a run that goes on (a dead attempt's run continued by a
// new job, or retried by River) is no failed run yet.
func (s *Store) SetRetryAt(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_executions SET retry_at = $2 WHERE id = $1 AND status = $3`, id, at.UTC(), StatusFailed)
	if err != nil {
		return fmt.Errorf("record when the run of %s is retried: %w", id, err)
	}
	return nil
}
