package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/records"
	"github.com/mosaique/rgz-backup/internal/restore"
)

func restoreCmd() *cobra.Command {
	var o restore.Options
	var targetURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "restore FILENAME|PATH --target-db NAME [--create] [--clean] [--jobs N] [--with-globals] [--target-url URL] [--from WHERE]",
		Short: "Disaster recovery: restore a backup into a named database, then compare",
		Long: `Restore a backup into --target-db on the backed-up server (or the server
of --target-url, a libpq URL of any database there): the file's CRC32 and
SHA-256 are checked first; --with-globals applies the globals sidecar
(roles, tablespaces) first; a database holding tables is refused unless
--clean (which replaces the backup's objects); --create creates it. Then
parallel pg_restore (--jobs, default the number of CPUs), ANALYZE, and the
same comparison as the restore test: every table with its exact row count,
the same numbers of objects. Each step is shown with the time elapsed.

The catalog is not needed, and nothing is written anywhere before the
restore itself: the catalog is only read, and when it cannot be reached or
does not know the backup (it may have lived in the lost database), the
backup's .manifest.json in BACKUP_LOCAL_DIR says what to expect. A PATH
(anything with a "/") is used as it is, with the manifest beside it. A file
gone from BACKUP_LOCAL_DIR is fetched from S3 when configured. With
--target-url and no database configured, nothing else is needed than
BACKUP_LOCAL_DIR.
docs/RESTORE.md is the step-by-step procedure.`,
		Args: cobra.ExactArgs(1),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if o.TargetDB == "" {
				return &config.Error{Var: "--target-db", Value: "", Allowed: "name the database to restore into"}
			}
			if o.Jobs < 0 || o.Jobs > 64 {
				return &config.Error{Var: "--jobs", Value: fmt.Sprint(o.Jobs), Allowed: "must be from 1 to 64"}
			}
			cfg, err := restoreConfig(targetURL)
			if err != nil {
				return err
			}
			o.Config, o.Target, o.Log = cfg, cfg.Database, logger(cfg)
			if targetURL != "" {
				if o.Target, err = config.ParseDatabaseURL(targetURL); err != nil {
					return &config.Error{Var: "--target-url", Value: config.RedactURL(targetURL, false), Allowed: err.Error()}
				}
			}
			if o.Jobs == 0 {
				o.Jobs = runtime.NumCPU()
			}
			if o.Row, o.Path, err = rowForRestore(cmd.Context(), cfg, args[0]); err != nil {
				return err
			}
			o.Step = func(elapsed time.Duration, what string) {
				fmt.Fprintf(os.Stderr, "[%6s] %s\n", elapsed.Round(time.Second), what)
			}
			res, err := restore.Into(cmd.Context(), o)
			if asJSON {
				if perr := printJSON(cmd.OutOrStdout(), res); perr != nil && err == nil {
					err = perr
				}
			} else if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Restored %s into %s in %s (%s); every table and row count matches the backup.\n",
					o.Row.Filename, o.TargetDB, res.Elapsed.Round(time.Second), res.Mode)
				if c := res.Catalog; c != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "The catalog came back with %s and is up to date: %d backups recorded from their manifests, %d repaired, %d already there.\n",
						o.TargetDB, len(c.Added), len(c.Repaired), c.Present)
				}
				for _, w := range res.Warnings {
					fmt.Fprintf(cmd.OutOrStdout(), "  warning: %s\n", w)
				}
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.TargetDB, "target-db", "", "database to restore into")
	f.BoolVar(&o.Create, "create", false, "create the target database (it must not exist)")
	f.BoolVar(&o.Clean, "clean", false, "allow restoring into a database that holds tables (replaces the backup's objects)")
	f.IntVar(&o.Jobs, "jobs", 0, "parallel pg_restore jobs (default: the number of CPUs)")
	f.BoolVar(&o.WithGlobals, "with-globals", false, "apply the globals sidecar (roles, tablespaces) first")
	f.StringVar(&targetURL, "target-url", "", "libpq URL of any database on the target server (default: the backed-up server)")
	f.BoolVar(&asJSON, "json", false, "print the outcome as one JSON object")
	f.StringVar(&o.From, "from", "", "where to read the backup: local, s3, or one of BACKUP_DESTINATIONS (its URL or kind: file, sftp, azblob); default: local, then S3, then the destinations")
	return cmd
}

// rowForRestore says what the file should be, writing nothing anywhere
// (the catalog may live in the very database about to be restored).
//   - A path (it has a "/"): that file, described by the manifest beside it.
//   - A name: the first of the catalog (only read, never migrated) and the
//     manifests in BACKUP_LOCAL_DIR that knows it (records.Find).
//
// A path is returned as it is, to be read there: the person named it.
func rowForRestore(ctx context.Context, cfg config.Config, ref string) (catalog.Execution, string, error) {
	if strings.Contains(ref, "/") {
		path, err := filepath.Abs(ref)
		if err == nil {
			_, err = os.Stat(path)
		}
		if err != nil {
			return catalog.Execution{}, "", fmt.Errorf("backup file %s: %w", ref, err)
		}
		row, err := records.Manifests{Dir: filepath.Dir(path)}.Named(ctx, path)
		if err == nil {
			err = layout.CheckManifest(row, filepath.Base(path)+layout.ManifestSuffix)
		}
		if err != nil {
			return row, "", fmt.Errorf("no manifest beside %s (%w): restore it by hand, docs/RESTORE.md", ref, err)
		}
		row.FilePath, row.DeletedAt = &path, nil
		return row, path, nil
	}
	if len(layout.Candidates(ref)) == 0 && uuid.Validate(ref) != nil {
		return catalog.Execution{}, "", &config.Error{Var: "FILENAME", Value: ref, Allowed: "a backup's name (" + layout.DumpNameHint + "), its stem (YYYYMMDD_HHMMSS), its id, or a path to one"}
	}
	readers, done := recordReaders(ctx, cfg)
	defer done()
	row, from, err := records.Find(ctx, readers, ref)
	if err != nil {
		return row, "", err
	}
	if _, fromFiles := from.(records.EveryManifest); fromFiles {
		where := cfg.LocalDir
		if row.FilePath != nil {
			where = filepath.Dir(*row.FilePath)
		}
		fmt.Fprintf(os.Stderr, "rgz-backup: %s is not known to the catalog; using its manifest in %s\n", row.Filename, where)
	}
	if row.Status == catalog.StatusFailed {
		return row, "", fmt.Errorf("backup %s failed: there is nothing to restore", row.Filename)
	}
	return row, "", nil
}

// recordReaders are where a verb that only reads looks backups up
// (records.Open): the catalog when it answers, then the manifests; it says
// on stderr when the catalog cannot be reached.
func recordReaders(ctx context.Context, cfg config.Config) ([]records.Reader, func()) {
	opened := records.Open(ctx, cfg.Catalog, cfg.LocalDir, "rgz-backup read")
	if opened.Unreachable != nil {
		fmt.Fprintf(os.Stderr, "rgz-backup: catalog unreachable (%v); using the manifests in %s\n", opened.Unreachable, cfg.LocalDir)
	}
	return opened.Readers, opened.Close
}

// restoreConfig loads the configuration a restore needs: with --target-url
// and no database configured (a bare shell on the worst day), the target
// stands in for it, so that POSTGRES_USER and POSTGRES_DB are not asked for.
func restoreConfig(targetURL string) (config.Config, error) {
	lookup := os.LookupEnv
	_, haveURL := os.LookupEnv("BACKUP_DATABASE_URL")
	_, haveUser := os.LookupEnv("POSTGRES_USER")
	if targetURL != "" && !haveURL && !haveUser {
		lookup = func(name string) (string, bool) {
			if name == "BACKUP_DATABASE_URL" {
				return targetURL, true
			}
			return os.LookupEnv(name)
		}
	}
	return config.LoadLookup(lookup)
}
