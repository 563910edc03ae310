package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/pitrproof"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// runPITRTest is restore-test --pitr: one point-in-time restore test of
// the archive of target's server (""; the only one that streams), now, in
// this process.
func runPITRTest(cmd *cobra.Command, cfg config.Config, target, to string, asJSON bool) error {
	servers, err := targets.Servers(cfg, os.Getenv)
	if err != nil {
		return &config.Error{Var: "BACKUP_TARGETS_FILE", Value: cfg.TargetsFile, Allowed: err.Error()}
	}
	server, err := targets.ChooseStreaming(servers, target)
	if err != nil {
		if target == "" && len(targets.Streaming(servers)) == 0 {
			return &config.Error{Var: "BACKUP_PITR_ENABLED", Value: "false", Allowed: "must be true (or pitr: true for a target of the targets file) for the archive to test: " + err.Error()}
		}
		return &config.Error{Var: "--target", Value: target, Allowed: err.Error()}
	}
	var moment *time.Time
	if to != "" {
		t, err := parseTarget(to, "")
		if err != nil || t.Latest {
			return &config.Error{Var: "--to", Value: to, Allowed: "must be a moment (RFC 3339, like 2026-12-06T14:03:00Z): a test restores to a moment"}
		}
		moment = &t.Time
	}
	if os.Geteuid() == 0 {
		return errors.New("PostgreSQL refuses to run as root: run rgz-backup restore-test --pitr as another user, the daemon's on a package install (sudo -u rgz-backup rgz-backup restore-test --pitr)")
	}
	store, err := openCatalog(cmd.Context(), server.Config)
	if err != nil {
		return fmt.Errorf("the catalog says what the archive holds and records the test: %w", err)
	}
	defer store.Close()
	if moment != nil { // refused before anything is recorded
		err := pitr.CheckMoment(cmd.Context(), store, *moment, server.Config.PITR.ShipEvery)
		if errors.Is(err, pitrplan.ErrUntestable) {
			return &config.Error{Var: "--to", Value: to, Allowed: err.Error()}
		}
		if err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("this program's path, for restore_command: %w", err)
	}
	o := jobs.PITRTestOptions(server, moment, catalog.TriggerManual, uuid.Nil, self)
	o.Log = logger(cfg)
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Duration(cfg.RestoreTest.Timeout)*time.Second)
	defer cancel()
	t, err := pitrproof.Run(ctx, store, o)
	if errors.Is(err, pitrproof.ErrTestRunning) {
		return err // nothing was recorded
	}
	writeTextfile(cmd.Context(), cfg, o.Log)
	if t.Status == catalog.TestFailed {
		host, _ := os.Hostname()
		tell(cmd.Context(), cfg, notify.Event{Kind: notify.PITRRestoreTestFailed, PITRRestoreTest: &t, Host: host}, o.Log)
	}
	if t.Status == catalog.TestRunning || t.Status == "" {
		return err // not recorded: the catalog
	}
	if asJSON {
		if perr := printJSON(cmd.OutOrStdout(), t); perr != nil {
			return perr
		}
	} else {
		printPITRTest(cmd, t)
	}
	return err
}

func printPITRTest(cmd *cobra.Command, t catalog.PITRRestoreTest) {
	w := cmd.OutOrStdout()
	at := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "Point-in-time restore test to %s (%s) from base backup %s: %s\n", at(t.Target), t.Kind, orDash(t.BaseBackupLabel), strings.ToUpper(string(t.Status)))
	if t.ReachedLSN != "" {
		fmt.Fprintf(w, "  stopped at LSN %s on timeline %d; last transaction replayed %s\n", t.ReachedLSN, t.Timeline, at(t.ReachedTime))
	}
	if t.HeartbeatBefore != nil || t.HeartbeatAfter != nil {
		fmt.Fprintf(w, "  the server's heartbeat: %s before the target (in the copy), %s after it (not in the copy)\n", at(t.HeartbeatBefore), at(t.HeartbeatAfter))
	}
	if t.RTOSeconds > 0 {
		fmt.Fprintf(w, "  restored and usable in %.1f s (base backup %.1f s, WAL replay %.1f s, %s of WAL); %d indexes checked\n",
			t.RTOSeconds, t.FetchSeconds, t.ReplaySeconds, report.Bytes(t.ReplayBytes), t.IndexesChecked)
	}
	if t.Error != "" {
		fmt.Fprintf(w, "  %s\n", t.Error)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
