package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// backupSeveral backs up every database of every server (targets.Servers:
// BACKUP_DATABASES on the environment's server, or the targets file), or
// the ones --target and --database choose, each a backup of its own (its
// lock, row and copies) in BACKUP_LOCAL_DIR/TARGET/DATABASE, at most
// BACKUP_MAX_PARALLEL_PER_SERVER at once on a server and
// BACKUP_MAX_PARALLEL in all; then the missing copies and retention once,
// one notification for the run, and one line per database. One failing,
// or a server that cannot be reached, never stops the others; any failing
// fails the run (exit 1).
func backupSeveral(cmd *cobra.Command, cfg config.Config, target, only string, asJSON bool) error {
	ctx := cmd.Context()
	units, down, err := chooseUnits(ctx, cfg, target, only)
	if err != nil {
		return err
	}
	log := logger(cfg)
	host, _ := os.Hostname()
	outcomes := make([]outcome, len(units))
	perServer := map[string]chan struct{}{}
	all := make(chan struct{}, cfg.Databases.MaxParallel)
	globals := backup.NewGlobals() // once per server for the run
	var wg sync.WaitGroup
	for i, u := range units {
		if perServer[u.Target] == nil {
			perServer[u.Target] = make(chan struct{}, cfg.Databases.MaxParallelPerServer)
		}
		server := perServer[u.Target]
		wg.Add(1)
		go func() {
			defer wg.Done()
			server <- struct{}{}
			all <- struct{}{}
			defer func() { <-all; <-server }()
			outcomes[i] = outcome{target: u.Target, database: u.Database, err: context.Cause(ctx)}
			if ctx.Err() != nil {
				return // told to stop: the rest would only wait
			}
			// Another process's backups may hold the slots: wait for one as
			// long as a backup may last.
			opts := backup.Options{Config: u.Config, TriggeredBy: catalog.TriggerManual, Log: log.With("target", u.Target, "database", u.Database),
				Target: u.Target, Database: u.Database, SlotWait: u.Config.Timeout, Globals: globals}
			outcomes[i].row, outcomes[i].err = backup.Run(ctx, opts)
		}()
	}
	wg.Wait()
	for _, d := range down {
		outcomes = append(outcomes, outcome{target: d.Target, database: "*", err: d.Err})
	}
	anyGood := slices.ContainsFunc(outcomes, func(o outcome) bool { return o.err == nil })
	if anyGood {
		// Once for the run: the copies still missing and retention are
		// catalog-wide (each database weighed alone), not per database.
		afterBackup(ctx, cfg, log)
	}
	tellRun(ctx, cfg, outcomes, host, log)
	writeTextfile(ctx, cfg, log)
	if err := printOutcomes(cmd, outcomes, asJSON); err != nil {
		return err
	}
	var failed, notStarted []string
	for _, o := range outcomes {
		switch {
		case o.err != nil && backup.NotStarted(o.err):
			notStarted = append(notStarted, o.name())
		case o.err != nil:
			failed = append(failed, o.name())
		}
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("stopped before every database was backed up: %w", context.Cause(ctx))
	case len(failed) > 0:
		return fmt.Errorf("%d of %d databases failed: %s", len(failed), len(outcomes), strings.Join(failed, ", "))
	case len(notStarted) > 0:
		var held *lock.HeldError
		for _, o := range outcomes {
			if errors.As(o.err, &held) {
				return held // exit 75: try again later
			}
		}
		return fmt.Errorf("not started: %s", strings.Join(notStarted, ", "))
	}
	return nil
}

// chooseUnits lists the databases of every server now, or of the one
// target names, or the one database only names.
func chooseUnits(ctx context.Context, cfg config.Config, target, only string) ([]targets.Unit, []targets.Unreachable, error) {
	servers, err := targets.Servers(cfg, os.Getenv)
	if err != nil {
		return nil, nil, &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
	}
	if target != "" {
		var names []string
		servers = slices.DeleteFunc(servers, func(s targets.Server) bool { names = append(names, s.Target); return s.Target != target })
		if len(servers) == 0 {
			return nil, nil, &config.Error{Var: "--target", Value: target, Allowed: "must be one of the targets: " + strings.Join(names, ", ")}
		}
	}
	units, down := targets.Plan(ctx, servers)
	if only != "" {
		var names []string
		units = slices.DeleteFunc(units, func(u targets.Unit) bool { names = append(names, u.Database); return u.Database != only })
		switch {
		case len(units) == 0 && len(down) > 0:
			return nil, nil, down[0]
		case len(units) == 0:
			return nil, nil, &config.Error{Var: "--database", Value: only, Allowed: "must be one of the databases selected: " + strings.Join(names, ", ")}
		case len(units) > 1:
			return nil, nil, &config.Error{Var: "--database", Value: only, Allowed: "is on several targets: choose one with --target"}
		}
		down = nil
	}
	if len(units) == 0 && len(down) == 0 {
		return nil, nil, errors.New("no database selected on any server (all excluded?)")
	}
	return units, down, nil
}

// enqueueBackup puts a backup on the daemon's queue: with several
// databases, a run over them all, or a target's, or one database's.
func enqueueBackup(cmd *cobra.Command, cfg config.Config, target, database string, asJSON bool) error {
	if database != "" && target == "" {
		servers, err := targets.Servers(cfg, os.Getenv)
		if err != nil {
			return &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
		}
		if len(servers) > 1 {
			return &config.Error{Var: "--database", Value: database, Allowed: "with several targets, name its server with --target"}
		}
		target = servers[0].Target
	}
	return withQueue(cmd.Context(), cfg, func(_ *catalog.Store, client *jobs.Client) error {
		job, err := jobs.EnqueueOf(cmd.Context(), client, catalog.TriggerManual, target, database)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), job)
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "enqueued backup job %d (run %s); `rgz-backup status` follows it\n", job.JobID, job.RunID)
		return err
	})
}

// tellRun sends one notification for the run: every database's outcome
// in one mail (one database alone: its usual mail).
func tellRun(ctx context.Context, cfg config.Config, outcomes []outcome, host string, log *slog.Logger) {
	var rows []catalog.Execution
	for _, o := range outcomes {
		var held *lock.HeldError
		if errors.As(o.err, &held) {
			continue // nothing was done: not news
		}
		row := backup.Reported(o.row, o.err)
		if row.ID == "" { // nothing recorded: the mail still names the database and why
			db, msg := o.database, firstLineOf(o.err.Error())
			row = catalog.Execution{Status: catalog.StatusFailed, TargetName: o.target, DatabaseName: &db, ErrorMessage: &msg}
		}
		rows = append(rows, row)
	}
	switch {
	case len(rows) == 1 && outcomes[0].row.ID != "":
		tell(ctx, cfg, notify.ForBackup(rows[0], host, ""), log) // its target names its server
	case len(rows) > 0:
		tell(ctx, cfg, notify.ForRun(rows, host), log)
	}
}

// outcome is one database's backup in a run over several.
type outcome struct {
	target   string
	database string            // "*": the server's databases could not be listed
	row      catalog.Execution // ID empty: nothing was recorded
	err      error
}

// printOutcomes prints the recorded rows as a JSON array, or one line per
// database.
func printOutcomes(cmd *cobra.Command, outcomes []outcome, asJSON bool) error {
	if asJSON {
		rows := []catalog.Execution{}
		for _, o := range outcomes {
			if o.row.ID != "" {
				rows = append(rows, o.row)
			}
		}
		return printJSON(cmd.OutOrStdout(), rows)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tDATABASE\tSTATUS\tSIZE\tFILE\tNOTE")
	for _, o := range outcomes {
		status, size, file, note := "not recorded", "-", "-", ""
		if o.row.ID != "" {
			status, file = string(o.row.Status), o.row.Filename
			if o.row.FileSizeBytes != nil {
				size = report.Bytes(*o.row.FileSizeBytes)
			}
		}
		if o.err != nil {
			note = firstLineOf(o.err.Error())
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", report.Name(o.target), report.Name(o.database), status, size, file, note)
	}
	return w.Flush()
}

// name is target/database, or the database alone on the default target.
func (o outcome) name() string {
	if o.target == targets.DefaultTarget {
		return o.database
	}
	return o.target + "/" + o.database
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
