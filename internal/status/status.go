// Package status is what `rgz-backup status` (and whoever else asks) says
// of the service now: the running daemons and what they schedule, the last
// run and the last success, what runs (each attempt alive by its own lock)
// and what waits in the daemon's queue.
package status

import (
	"context"
	"fmt"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/plan"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// Status is what `rgz-backup status` reports. The schedule is the running
// daemons' (what they told the catalog), not the caller's environment:
// from an operator's shell, the environment may say anything.
type Status struct {
	// Daemons are the `serve` processes seen in the last 30 s.
	Daemons []catalog.Daemon `json:"daemons"`
	// ScheduleFrom says where Schedule comes from: "daemon", or
	// "configuration" when no daemon runs (then nothing is scheduled).
	ScheduleFrom     string     `json:"schedule_from"`
	Schedule         string     `json:"schedule"`
	ScheduleEnabled  bool       `json:"schedule_enabled"`
	NextScheduledRun *time.Time `json:"next_scheduled_run"` // null: nothing will run by itself
	NextRestoreTest  *time.Time `json:"next_restore_test"`
	// Warnings: running daemons that disagree on what they schedule.
	Warnings    []string           `json:"warnings,omitempty"`
	LastRun     *catalog.Execution `json:"last_run"`
	LastSuccess *catalog.Execution `json:"last_success"`
	Running     bool               `json:"running"`
	LockHolder  string             `json:"lock_holder,omitempty"`
	Attempts    []Attempt          `json:"attempts_in_progress"`
	Jobs        []jobs.Queued      `json:"jobs"`
	// With several databases: each one's newest backup and newest success.
	Databases []catalog.DatabaseState `json:"databases,omitempty"`
	// With a targets file: the targets with schedules of their own.
	Targets []catalog.TargetPlan `json:"targets,omitempty"`
}

// Attempt is an attempt in progress, alive or abandoned.
type Attempt struct {
	Filename  string    `json:"filename"`
	Attempt   int       `json:"attempt"`
	RunID     string    `json:"run_id"`
	Target    string    `json:"target"`
	Database  string    `json:"database"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	Alive     bool      `json:"alive"` // false: its process died; the next start records it failed
}

// Read builds the status from the catalog, the running daemons' rows, the
// backup locks and the daemon's queue, as of now.
func Read(ctx context.Context, cfg config.Config, store *catalog.Store, client *jobs.Client, now time.Time) (Status, error) {
	st := Status{Attempts: []Attempt{}}
	var err error
	if st.Daemons, err = store.Daemons(ctx); err != nil {
		return st, err
	}
	for i := range st.Daemons {
		st.Daemons[i].Plan = plan.Fresh(st.Daemons[i].Plan, now)
	}
	if err := scheduleOf(&st, cfg); err != nil {
		return st, err
	}
	last, err := store.List(ctx, catalog.Filter{Limit: 1})
	if err != nil {
		return st, err
	}
	if len(last) > 0 {
		st.LastRun = &last[0]
	}
	success, err := store.List(ctx, catalog.Filter{Status: catalog.StatusSuccess, Limit: 1})
	if err != nil {
		return st, err
	}
	if len(success) > 0 {
		st.LastSuccess = &success[0]
	}
	holder, held, err := lock.HeldBy(ctx, cfg.Catalog)
	if err != nil {
		return st, err
	}
	st.Running = held
	if held {
		st.LockHolder = holder
	}
	if st.Attempts, err = attemptsNow(ctx, cfg, store); err != nil {
		return st, err
	}
	if cfg.Several() {
		if st.Databases, err = store.DatabaseStates(ctx); err != nil {
			return st, err
		}
	}
	st.Jobs, err = jobs.List(ctx, client)
	return st, err
}

// scheduleOf fills st's schedule from its running daemons, or, with none,
// from cfg — saying that no daemon runs it.
func scheduleOf(st *Status, cfg config.Config) error {
	if len(st.Daemons) == 0 {
		st.ScheduleFrom, st.Schedule, st.ScheduleEnabled = "configuration", cfg.Schedule.Spec, cfg.ScheduleEnabled
		var err error
		st.Targets, err = ownSchedules(cfg)
		return err
	}
	first := st.Daemons[0].Plan
	st.ScheduleFrom, st.Schedule, st.ScheduleEnabled, st.Targets = "daemon", first.Schedule, first.ScheduleEnabled, first.Targets
	for _, d := range st.Daemons {
		p := d.Plan
		if p.Schedule != first.Schedule || p.ScheduleEnabled != first.ScheduleEnabled || p.RestoreTests != first.RestoreTests || p.RestoreTestsOn != first.RestoreTestsOn {
			st.Warnings = append(st.Warnings, fmt.Sprintf("the running daemons do not schedule the same: pid %d on %s runs backups %s, restore tests %s; pid %d on %s runs backups %s, restore tests %s",
				st.Daemons[0].PID, st.Daemons[0].Host, planWords(first.Schedule, first.ScheduleEnabled), planWords(first.RestoreTests, first.RestoreTestsOn),
				d.PID, d.Host, planWords(p.Schedule, p.ScheduleEnabled), planWords(p.RestoreTests, p.RestoreTestsOn)))
		}
		st.NextScheduledRun = earliest(st.NextScheduledRun, p.NextRun)
		st.NextRestoreTest = earliest(st.NextRestoreTest, p.NextRestoreTest)
	}
	return nil
}

func planWords(spec string, on bool) string {
	if !on {
		return "never (disabled)"
	}
	return spec
}

func earliest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.Before(*a)) {
		return b
	}
	return a
}

// attemptsNow lists the attempts in progress, each alive when a session
// holds the lock its backup runs under.
func attemptsNow(ctx context.Context, cfg config.Config, store *catalog.Store) ([]Attempt, error) {
	attempts, err := store.Attempts(ctx)
	if err != nil || len(attempts) == 0 {
		return []Attempt{}, err
	}
	names := make([][2]string, len(attempts))
	for i, a := range attempts {
		names[i] = [2]string{a.Execution.TargetName, deref(a.Execution.DatabaseName)}
	}
	running, err := lock.Running(ctx, cfg.Catalog, cfg.Several(), names)
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, len(attempts))
	for i, a := range attempts {
		out[i] = Attempt{Filename: a.Execution.Filename, Attempt: a.Execution.Attempt, RunID: deref(a.Execution.RunID),
			Target: names[i][0], Database: names[i][1], Host: a.Hostname, PID: a.PID, StartedAt: a.StartedAt, Alive: running[names[i]]}
	}
	return out, nil
}

// ownSchedules are the targets file's targets with schedules of their
// own, as this shell's configuration says (no daemon runs them).
func ownSchedules(cfg config.Config) ([]catalog.TargetPlan, error) {
	if cfg.TargetsFile == "" {
		return nil, nil
	}
	file, err := targets.ReadFile(cfg.TargetsFile)
	if err != nil {
		return nil, &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
	}
	var out []catalog.TargetPlan
	for _, t := range file.Targets {
		if t.Schedule != "" || t.RestoreTestSchedule != "" {
			out = append(out, catalog.TargetPlan{Target: t.Name, Schedule: t.Schedule, RestoreTestSchedule: t.RestoreTestSchedule})
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
