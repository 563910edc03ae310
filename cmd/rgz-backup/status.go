package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// status is what `rgz-backup status` reports.
type status struct {
	Schedule         string             `json:"schedule"`
	ScheduleEnabled  bool               `json:"schedule_enabled"`
	NextScheduledRun *time.Time         `json:"next_scheduled_run"`
	LastRun          *catalog.Execution `json:"last_run"`
	LastSuccess      *catalog.Execution `json:"last_success"`
	Running          bool               `json:"running"`
	LockHolder       string             `json:"lock_holder,omitempty"`
	Attempts         []attemptStatus    `json:"attempts_in_progress"`
	Jobs             []jobs.Queued      `json:"jobs"`
	// With several databases: each one's newest backup and newest success.
	Databases []catalog.DatabaseState `json:"databases,omitempty"`
	// With a targets file: the targets with schedules of their own.
	Targets []targetSchedule `json:"targets,omitempty"`
}

// targetSchedule is a target's own schedule (targets file), if any.
type targetSchedule struct {
	Target              string     `json:"target"`
	Schedule            string     `json:"schedule,omitempty"` // empty: the environment's
	NextRun             *time.Time `json:"next_run,omitempty"`
	RestoreTestSchedule string     `json:"restore_test_schedule,omitempty"`
}

type attemptStatus struct {
	Filename  string    `json:"filename"`
	Attempt   int       `json:"attempt"`
	RunID     string    `json:"run_id"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	Alive     bool      `json:"alive"` // false: its process died; the next start records it failed
}

func statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the next scheduled backup, the last one, and what runs or waits now",
		Long: `Show the schedule and the next scheduled run, the last backup and the last
successful one, whether a backup is running now (and where), and the
daemon's backup jobs that wait (retries, enqueued runs). With several
databases, also each database's last backup and last success.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			return withQueue(cmd.Context(), cfg, func(store *catalog.Store, client *jobs.Client) error {
				st, err := readStatus(cmd.Context(), cfg, store, client, time.Now())
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				return printStatus(cmd.OutOrStdout(), st, time.Now())
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func readStatus(ctx context.Context, cfg config.Config, store *catalog.Store, client *jobs.Client, now time.Time) (status, error) {
	st := status{Schedule: cfg.Schedule.Spec, ScheduleEnabled: cfg.ScheduleEnabled, Attempts: []attemptStatus{}}
	if cfg.ScheduleEnabled {
		next := cfg.Schedule.Next(now)
		st.NextScheduledRun = &next
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
	attempts, err := store.Attempts(ctx)
	if err != nil {
		return st, err
	}
	for _, a := range attempts {
		runID := ""
		if a.Execution.RunID != nil {
			runID = *a.Execution.RunID
		}
		st.Attempts = append(st.Attempts, attemptStatus{Filename: a.Execution.Filename, Attempt: a.Execution.Attempt, RunID: runID,
			Host: a.Hostname, PID: a.PID, StartedAt: a.StartedAt, Alive: held})
	}
	if cfg.Several() {
		if st.Databases, err = store.DatabaseStates(ctx); err != nil {
			return st, err
		}
	}
	if st.Targets, err = ownSchedules(cfg, now); err != nil {
		return st, err
	}
	st.Jobs, err = jobs.List(ctx, client)
	return st, err
}

// ownSchedules are the targets file's targets with schedules of their own.
func ownSchedules(cfg config.Config, now time.Time) ([]targetSchedule, error) {
	if cfg.TargetsFile == "" {
		return nil, nil
	}
	file, err := targets.ReadFile(cfg.TargetsFile)
	if err != nil {
		return nil, &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
	}
	var out []targetSchedule
	for _, t := range file.Targets {
		if t.Schedule == "" && t.RestoreTestSchedule == "" {
			continue
		}
		ts := targetSchedule{Target: t.Name, Schedule: t.Schedule, RestoreTestSchedule: t.RestoreTestSchedule}
		if sched, err := schedule.Parse(t.Schedule); err == nil && t.Schedule != "" && cfg.ScheduleEnabled {
			next := sched.Next(now)
			ts.NextRun = &next
		}
		out = append(out, ts)
	}
	return out, nil
}

func printStatus(w io.Writer, st status, now time.Time) error {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-14s "+format+"\n", append([]any{label + ":"}, args...)...)
	}
	when := func(t time.Time) string {
		d := t.Sub(now).Round(time.Second)
		if d >= 0 {
			return fmt.Sprintf("%s UTC (in %s)", t.UTC().Format(time.DateTime), d)
		}
		return fmt.Sprintf("%s UTC (%s ago)", t.UTC().Format(time.DateTime), -d)
	}
	row := func(e *catalog.Execution) string {
		if e == nil {
			return "none"
		}
		s := fmt.Sprintf("%s  %s  %s  (%s, attempt %d)", e.Filename, e.Status, when(e.BackupDate), e.TriggeredBy, e.Attempt)
		if e.ErrorMessage != nil {
			s += "\n" + fmt.Sprintf("%-14s %s", "", *e.ErrorMessage)
		}
		return s
	}
	if st.ScheduleEnabled {
		p("Schedule", "%s (UTC)", st.Schedule)
		p("Next run", "%s", when(*st.NextScheduledRun))
	} else {
		p("Schedule", "disabled (POSTGRES_BACKUP_ENABLED=false): manual and enqueued backups only")
	}
	for _, t := range st.Targets {
		switch {
		case t.NextRun != nil:
			p("Target", "%s: its own schedule %s (UTC), next run %s", t.Target, t.Schedule, when(*t.NextRun))
		case t.Schedule != "":
			p("Target", "%s: its own schedule %s (UTC), disabled with the others", t.Target, t.Schedule)
		}
		if t.RestoreTestSchedule != "" {
			p("Target", "%s: restore tests on its own schedule %s (UTC)", t.Target, t.RestoreTestSchedule)
		}
	}
	p("Last run", "%s", row(st.LastRun))
	p("Last success", "%s", row(st.LastSuccess))
	switch {
	case st.Running:
		p("Running now", "yes: %s", st.LockHolder)
	default:
		p("Running now", "no")
	}
	for _, a := range st.Attempts {
		state := "running"
		if !a.Alive {
			state = "abandoned (its process died; the next start records it failed)"
		}
		p("Attempt", "%s attempt %d, pid %d on %s, started %s: %s", a.Filename, a.Attempt, a.PID, a.Host, when(a.StartedAt), state)
	}
	if len(st.Jobs) == 0 {
		p("Jobs", "none waiting")
	}
	for _, j := range st.Jobs {
		what := ""
		if j.Database != "" {
			what = " " + j.Target + "/" + j.Database
		}
		p("Job", "%d%s %s %s, attempt %d of %d, %s", j.ID, what, j.TriggeredBy, j.State, j.Attempt, j.MaxAttempts, when(j.At))
	}
	if len(st.Databases) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nTARGET\tDATABASE\tLAST RUN\tSTATUS\tLAST SUCCESS")
		for _, d := range st.Databases {
			success := "never"
			if d.LastSuccess != nil {
				success = when(d.LastSuccess.BackupDate)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", report.Name(d.Target), report.Name(d.Database), d.LastRun.Filename, d.LastRun.Status, success)
		}
		return tw.Flush()
	}
	return nil
}
