package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Daemon is a running `rgz-backup serve` and what it schedules (table
// backup_daemons): status reads what the daemons do, not what the caller's
// environment would do.
type Daemon struct {
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	SeenAt    time.Time `json:"seen_at"` // by the catalog's clock
	Version   string    `json:"version"`
	Plan      Plan      `json:"plan"`
}

// Plan is what a daemon schedules, its next runs computed on its clock.
type Plan struct {
	Schedule        string       `json:"schedule"`
	ScheduleEnabled bool         `json:"schedule_enabled"`
	NextRun         *time.Time   `json:"next_run"`
	RestoreTests    string       `json:"restore_test_schedule"`
	RestoreTestsOn  bool         `json:"restore_test_enabled"`
	NextRestoreTest *time.Time   `json:"next_restore_test"`
	Targets         []TargetPlan `json:"targets,omitempty"`
}

// TargetPlan is a target's own schedule in a daemon's targets file.
type TargetPlan struct {
	Target              string     `json:"target"`
	Schedule            string     `json:"schedule,omitempty"`
	NextRun             *time.Time `json:"next_run,omitempty"`
	RestoreTestSchedule string     `json:"restore_test_schedule,omitempty"`
}

// DaemonSeenWithin is how recently a daemon must have refreshed its row
// to count as running: three of its refreshes.
const DaemonSeenWithin = 30 * time.Second

// SeeDaemon records that d runs now with its plan (its row refreshed), and
// forgets daemons unseen for a day.
func (s *Store) SeeDaemon(ctx context.Context, d Daemon) error {
	plan, err := json.Marshal(d.Plan)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO backup_daemons (host, pid, started_at, version, plan) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (host, pid, started_at) DO UPDATE SET seen_at = now(), version = excluded.version, plan = excluded.plan`,
		d.Host, d.PID, d.StartedAt, d.Version, plan)
	if err == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM backup_daemons WHERE seen_at < now() - interval '1 day'`)
	}
	if err != nil {
		return fmt.Errorf("record the daemon in the catalog: %w", err)
	}
	return nil
}

// DaemonGone removes d's row: it stops.
func (s *Store) DaemonGone(ctx context.Context, d Daemon) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM backup_daemons WHERE host = $1 AND pid = $2 AND started_at = $3`, d.Host, d.PID, d.StartedAt); err != nil {
		return fmt.Errorf("remove the daemon from the catalog: %w", err)
	}
	return nil
}

// Daemons lists the daemons seen within DaemonSeenWithin, oldest first.
func (s *Store) Daemons(ctx context.Context) ([]Daemon, error) {
	rows, err := s.pool.Query(ctx, `SELECT host, pid, started_at, seen_at, version, plan FROM backup_daemons
		WHERE seen_at >= now() - make_interval(secs => $1) ORDER BY started_at, host, pid`, DaemonSeenWithin.Seconds())
	if err != nil {
		return nil, fmt.Errorf("read the running daemons: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Daemon, error) {
		var d Daemon
		var plan []byte
		if err := r.Scan(&d.Host, &d.PID, &d.StartedAt, &d.SeenAt, &d.Version, &plan); err != nil {
			return d, err
		}
		return d, json.Unmarshal(plan, &d.Plan)
	})
	if err != nil {
		return nil, fmt.Errorf("read the running daemons: %w", err)
	}
	return out, nil
}
