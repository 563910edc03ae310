package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/status"
)

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
				st, err := status.Read(cmd.Context(), cfg, store, client, time.Now())
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

func printStatus(w io.Writer, st status.Status, now time.Time) error {
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
func printSchedule(p func(label, format string, args ...any), st status.Status, now time.Time, when func(time.Time) string) {
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
