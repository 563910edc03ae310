package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// backupSeveral backs up every database BACKUP_DATABASES selects (or the
// one only names), one after the other, each a backup of its own (its
// lock, row and copies) in BACKUP_LOCAL_DIR/default/DATABASE, then the
// missing copies and retention once, tells the run in one notification, and prints one line per database.
// One failing never stops the others; any failing fails the run (exit 1).
func backupSeveral(cmd *cobra.Command, cfg config.Config, only string, asJSON bool) error {
	ctx := cmd.Context()
	dbs, err := targets.Of(ctx, cfg)
	if err != nil {
		return err
	}
	if only != "" {
		if !slices.Contains(dbs, only) {
			return &config.Error{Var: "--database", Value: only, Allowed: "must be one of the databases BACKUP_DATABASES selects: " + strings.Join(dbs, ", ")}
		}
		dbs = []string{only}
	}
	if len(dbs) == 0 {
		return errors.New("BACKUP_DATABASES selects no database on this server (all excluded?)")
	}
	log := logger(cfg)
	host, _ := os.Hostname()
	var outcomes []outcome
	var held *lock.HeldError
	anyGood := false
	for _, u := range targets.Units(cfg, targets.DefaultTarget, dbs) {
		opts := backup.Options{Config: u.Config, TriggeredBy: catalog.TriggerManual, Log: log.With("database", u.Database),
			Target: u.Target, Database: u.Database}
		row, err := backup.Run(ctx, opts)
		anyGood = anyGood || err == nil
		outcomes = append(outcomes, outcome{database: u.Database, row: row, err: err})
		if errors.As(err, &held) || ctx.Err() != nil {
			break // another backup holds the lock, or we are told to stop: the rest would only wait
		}
	}
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
	var failed []string
	for _, o := range outcomes {
		if o.err != nil {
			failed = append(failed, o.database)
		}
	}
	switch {
	case held != nil:
		return held
	case len(outcomes) < len(dbs):
		return fmt.Errorf("stopped after %d of %d databases: %w", len(outcomes), len(dbs), context.Cause(ctx))
	case len(failed) > 0:
		return fmt.Errorf("%d of %d databases failed: %s", len(failed), len(dbs), strings.Join(failed, ", "))
	}
	return nil
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
			row = catalog.Execution{Status: catalog.StatusFailed, DatabaseName: &db, ErrorMessage: &msg}
		}
		rows = append(rows, row)
	}
	switch {
	case len(rows) == 1 && outcomes[0].row.ID != "":
		tell(ctx, cfg, notify.ForBackup(rows[0], host), log)
	case len(rows) > 0:
		tell(ctx, cfg, notify.ForRun(rows, host), log)
	}
}

// outcome is one database's backup in a run over several.
type outcome struct {
	database string
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
	fmt.Fprintln(w, "DATABASE\tSTATUS\tSIZE\tFILE\tNOTE")
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
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", o.database, status, size, file, note)
	}
	return w.Flush()
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
