package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/restoretest"
	"github.com/mosaique/rgz-backup/internal/targets"
)

func restoreTestCmd() *cobra.Command {
	var asJSON, keep, pitrTest bool
	var from, database, target, to string
	cmd := &cobra.Command{
		Use:   "restore-test [FILENAME] [--json] [--keep] [--from WHERE] | --pitr [--to TIME] [--json]",
		Short: "Prove a backup restores: restore it into a scratch database and compare",
		Long: `Restore a backup into a scratch database rgz_restore_test_YYYYMMDD_HHMMSS
on BACKUP_RESTORE_TEST_DATABASE_URL (default: the backed-up server) and
compare it with what the backup recorded. Without FILENAME: the good backup
closest to BACKUP_RESTORE_TEST_BACKUP_AGE_DAYS (7) days old, or the newest;
with several databases (BACKUP_DATABASES, BACKUP_TARGETS_FILE), of the
database whose turn it is (the one tested longest ago, one never tested
first), or of --database NAME (with --target NAME off the default target). With
a targets file, the scratch server defaults to the environment's.

Steps: the file's CRC32 and SHA-256 are checked first (a damaged file is
never restored); parallel pg_restore from a decompressed temporary file
(or a streamed single-job restore when the backup directory has no room);
every table present with exactly the row count taken in the backup's
snapshot; the same numbers of indexes, constraints, triggers, sequences,
functions and views; ANALYZE; amcheck over every btree index. The scratch
database is dropped at the end, also after a failure or a timeout
(BACKUP_RESTORE_TEST_TIMEOUT_SECONDS), unless --keep.

Each test is recorded in backup_restore_tests and on the backup's row.
--json prints that record. Exits 1 when the test fails. With the catalog
unreachable, the backups' manifests say what to expect, and the test is
printed but not recorded.

--pitr tests the point-in-time recovery archive instead (docs/PITR.md): it
restores it into a scratch cluster under BACKUP_LOCAL_DIR (its socket only,
never archiving) to --to TIME, or to a moment drawn from the window (the
oldest one, the first time in a month), and checks that recovery stopped
there (time, LSN, timeline), that the server's heartbeat before that moment
is in the copy and the one after it is not, and amcheck over every index of
every database; then it removes the copy. Run it as any user but root
(PostgreSQL refuses root): the daemon's on a package install, sudo -u
rgz-backup. One test runs at a time (across replicas); a moment no test can
restore (outside the window, or too close to its end) is refused, exit 2.
Recorded in pitr_restore_tests and on the base backup's row.`,
		Args: cobra.MaximumNArgs(1),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if pitrTest {
				if len(args) == 1 || keep || from != "" || database != "" {
					return &config.Error{Var: "--pitr", Value: "true", Allowed: "tests the whole archive: FILENAME, --keep, --from and --database are the dumps' test's"}
				}
				return runPITRTest(cmd, cfg, target, to, asJSON)
			}
			if to != "" {
				return &config.Error{Var: "--to", Value: to, Allowed: "goes with --pitr"}
			}
			o := restoretest.Options{Config: cfg, Keep: keep, TriggeredBy: catalog.TriggerManual, Log: logger(cfg), From: from, Database: database, Target: target}
			if target == "" {
				o.Target, o.Database = splitTargetDatabase(cfg, database)
			}
			if len(args) == 1 {
				o.Filename = args[0]
			}
			store, err := openCatalog(cmd.Context(), cfg)
			if err != nil {
				fmt.Fprintf(os.Stderr, "rgz-backup: catalog unreachable (%v); using the manifests in %s, and the test is not recorded\n", err, cfg.LocalDir)
				store = nil
			} else {
				defer store.Close()
			}
			rt, err := restoretest.Run(cmd.Context(), store, o)
			if store != nil {
				writeTextfile(cmd.Context(), cfg, o.Log)
			}
			if err != nil && rt.ID != "" && store != nil {
				row, _ := store.Get(cmd.Context(), rt.BackupID)
				host, _ := os.Hostname()
				tell(cmd.Context(), cfg, notify.Event{Kind: notify.RestoreTestFailed, Backup: row, RestoreTest: &rt, Host: host}, o.Log)
			}
			if rt.ID == "" {
				return err // nothing was tested: no backup, or the catalog
			}
			if asJSON {
				if perr := printJSON(cmd.OutOrStdout(), rt); perr != nil {
					return perr
				}
			} else {
				printRestoreTest(cmd, rt, keep)
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the restore test's record as one JSON object")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the scratch database for a look (drop it yourself)")
	cmd.Flags().StringVar(&database, "database", "", "test the chosen backup of this database (several databases)")
	cmd.Flags().StringVar(&target, "target", "", "the target of --database (default: the default target); with --pitr, the server whose archive to test when several stream")
	cmd.Flags().BoolVar(&pitrTest, "pitr", false, "test the point-in-time recovery archive (docs/PITR.md)")
	cmd.Flags().StringVar(&to, "to", "", "with --pitr: the moment to restore to (RFC 3339, like 2026-12-06T14:03:00Z); default: drawn from the window")
	cmd.Flags().StringVar(&from, "from", "", "where to read the backup: local, s3, or one of BACKUP_DESTINATIONS (its URL or kind); default: local, then S3, then the destinations")
	return cmd
}

func printRestoreTest(cmd *cobra.Command, rt catalog.RestoreTest, keep bool) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Restore test of %s: %s", rt.BackupFilename, strings.ToUpper(string(rt.Status)))
	if rt.DurationSeconds != nil {
		fmt.Fprintf(w, " in %d s (the measured restore time)", *rt.DurationSeconds)
	}
	fmt.Fprintln(w)
	if rt.RestoreMode != nil {
		fmt.Fprintf(w, "  restore: %s\n", *rt.RestoreMode)
	}
	if rt.ErrorMessage != nil {
		fmt.Fprintf(w, "  %s\n", *rt.ErrorMessage)
	}
	for _, m := range rt.Mismatches {
		fmt.Fprintf(w, "  - %s\n", m)
	}
	if keep && rt.ScratchDatabase != nil {
		fmt.Fprintf(w, "Kept: database %s (drop it when done)\n", *rt.ScratchDatabase)
	}
}

// splitTargetDatabase reads the older form --database TARGET/NAME: a
// prefix that names a target of the targets file, other than the default
// one, is that target; anything else is a database's whole name (which may
// hold a '/'). --target says it without guessing.
func splitTargetDatabase(cfg config.Config, database string) (target, name string) {
	prefix, rest, found := strings.Cut(database, "/")
	if !found || prefix == catalog.DefaultTarget || cfg.TargetsFile == "" {
		return "", database
	}
	file, err := targets.ReadFile(cfg.TargetsFile)
	if err != nil {
		return "", database
	}
	for _, t := range file.Targets {
		if t.Name == prefix {
			return prefix, rest
		}
	}
	return "", database
}
