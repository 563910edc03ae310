package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/backuprun"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
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
	outcomes := make([]backuprun.Outcome, len(units))
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
			outcomes[i] = backuprun.Outcome{Target: u.Target, Database: u.Database, Err: context.Cause(ctx)}
			if ctx.Err() != nil {
				return // told to stop: the rest would only wait
			}
			// Another process's backups may hold the slots: wait for one as
			// long as a backup may last.
			opts := backup.Options{Config: u.Config, TriggeredBy: catalog.TriggerManual, Log: log.With("target", u.Target, "database", u.Database),
				Target: u.Target, Database: u.Database, SlotWait: u.Config.Timeout, Globals: globals}
			outcomes[i].Row, outcomes[i].Err = backup.Run(ctx, opts)
		}()
	}
	wg.Wait()
	for _, d := range down {
		outcomes = append(outcomes, backuprun.Unreachable(d.Target, d.Err))
	}
	rows := backuprun.Rows(outcomes)
	if backuprun.AnyGood(rows) {
		// Once for the run: the copies still missing and retention are
		// catalog-wide (each database weighed alone), not per database.
		afterBackup(ctx, cfg, log)
	}
	serverOf := map[string]string{}
	for _, u := range units {
		serverOf[u.Target] = u.Config.Database.Server()
	}
	if e, ok := backuprun.Event(rows, host, func(t string) string { return serverOf[t] }); ok {
		e.NextRun = daemonsNextRun(ctx, cfg)
		tell(ctx, cfg, e, log)
	}
	writeTextfile(ctx, cfg, log)
	if err := printOutcomes(cmd, outcomes, asJSON); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped before every database was backed up: %w", context.Cause(ctx))
	}
	return backuprun.Verdict(outcomes)
}

// chooseUnits lists the databases of every server now, or of the one
// target names, or the one database only names (backuprun.Servers, Only).
func chooseUnits(ctx context.Context, cfg config.Config, target, only string) ([]targets.Unit, []targets.Unreachable, error) {
	all, err := targets.Servers(cfg, os.Getenv)
	if err != nil {
		return nil, nil, &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
	}
	servers, err := backuprun.Servers(all, target, false)
	if err != nil {
		return nil, nil, err
	}
	units, down := targets.Plan(ctx, servers)
	if only != "" {
		if units, err = backuprun.Only(units, down, only); err != nil {
			return nil, nil, err
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

// printOutcomes prints the recorded rows as a JSON array, or one line per
// database.
func printOutcomes(cmd *cobra.Command, outcomes []backuprun.Outcome, asJSON bool) error {
	if asJSON {
		rows := []catalog.Execution{}
		for _, o := range outcomes {
			if o.Row.ID != "" {
				rows = append(rows, o.Row)
			}
		}
		return printJSON(cmd.OutOrStdout(), rows)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tDATABASE\tSTATUS\tSIZE\tFILE\tNOTE")
	for _, o := range outcomes {
		status, size, file, note := "not recorded", "-", "-", ""
		if o.Row.ID != "" {
			status, file = string(o.Row.Status), o.Row.Filename
			if o.Row.FileSizeBytes != nil {
				size = report.Bytes(*o.Row.FileSizeBytes)
			}
		}
		if o.Err != nil {
			note = firstLineOf(o.Err.Error())
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", report.Name(o.Target), report.Name(o.Database), status, size, file, note)
	}
	return w.Flush()
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
