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
	"github.com/mosaique/rgz-backup/internal/targets"
)

// status is what `rgz-backup status` reports. The schedule is the running
// daemons' (what they told the catalog), not the caller's environment:
// from an operator's shell, the environment may say anything.
type status struct {
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
	Attempts    []attemptStatus    `json:"attempts_in_progress"`
	Jobs        []jobs.Queued      `json:"jobs"`
	// With several databases: each one's newest backup and newest success.
	Databases []catalog.DatabaseState `json:"databases,omitempty"`
	// With a targets file: the targets with schedules of their own.
	Targets []catalog.TargetPlan `json:"targets,omitempty"`
}

type attemptStatus struct {
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

func statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running daemons and what they schedule, the last backup, and what runs or waits now",
		Long: `Show the running daemons (rgz-backup serve, wherever they run) with their
schedule and next runs, as they report them to the catalog — not this
shell's configuration; with no daemon running, say that nothing is
scheduled. Then the last backup and the last successful one, whether a
backup is running now (and where; each attempt alive or abandoned), and the
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
	st := status{Attempts: []attemptStatus{}}
	var err error
	if st.Daemons, err = store.Daemons(ctx); err != nil {
		return st, err
	}
	for i := range st.Daemons {
		st.Daemons[i].Plan = jobs.FreshPlan(st.Daemons[i].Plan, now)
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
func scheduleOf(st *status, cfg config.Config) error {
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
func attemptsNow(ctx context.Context, cfg config.Config, store *catalog.Store) ([]attemptStatus, error) {
	attempts, err := store.Attempts(ctx)
	if err != nil || len(attempts) == 0 {
		return []attemptStatus{}, err
	}
	names := make([][2]string, len(attempts))
	for i, a := range attempts {
		names[i] = [2]string{a.Execution.TargetName, deref(a.Execution.DatabaseName)}
	}
	running, err := lock.Running(ctx, cfg.Catalog, cfg.Several(), names)
	if err != nil {
		return nil, err
	}
	out := make([]attemptStatus, len(attempts))
	for i, a := range attempts {
		out[i] = attemptStatus{Filename: a.Execution.Filename, Attempt: a.Execution.Attempt, RunID: deref(a.Execution.RunID),
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
	printSchedule(p, st, now, when)
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

// printSchedule prints the daemons and what they schedule, or that none
// runs and so nothing is scheduled.
func printSchedule(p func(label, format string, args ...any), st status, now time.Time, when func(time.Time) string) {
	if len(st.Daemons) == 0 {
		p("Daemon", "none running (none seen in the last %s): no backup runs by itself; start `rgz-backup serve`", catalog.DaemonSeenWithin)
		if st.ScheduleEnabled {
			p("Schedule", "%s (UTC) in this shell's configuration, which no daemon runs", st.Schedule)
		}
		for _, t := range st.Targets {
			if t.Schedule != "" {
				p("Target", "%s: its own schedule %s (UTC) in the targets file, which no daemon runs", t.Target, t.Schedule)
			}
			if t.RestoreTestSchedule != "" {
				p("Target", "%s: restore tests on its own schedule %s (UTC) in the targets file, which no daemon runs", t.Target, t.RestoreTestSchedule)
			}
		}
		return
	}
	for _, d := range st.Daemons {
		p("Daemon", "pid %d on %s, up %s, version %s", d.PID, d.Host, now.Sub(d.StartedAt).Round(time.Second), d.Version)
	}
	for _, w := range st.Warnings {
		p("Warning", "%s", w)
	}
	plan := st.Daemons[0].Plan
	if st.ScheduleEnabled {
		p("Schedule", "%s (UTC)", st.Schedule)
	} else {
		p("Schedule", "disabled in the daemon (POSTGRES_BACKUP_ENABLED=false): manual and enqueued backups only")
	}
	if st.NextScheduledRun != nil {
		p("Next run", "%s", when(*st.NextScheduledRun))
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
	if st.NextRestoreTest != nil {
		p("Restore test", "%s (UTC), next %s", plan.RestoreTests, when(*st.NextRestoreTest))
	} else {
		p("Restore test", "disabled in the daemon (BACKUP_RESTORE_TEST_ENABLED=false)")
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
