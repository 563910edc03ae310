package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/locate"
	"github.com/mosaique/rgz-backup/internal/records"
)

// Options of a disaster-recovery restore.
type Options struct {
	Config      config.Config
	Row         catalog.Execution // from the catalog, or from the file's manifest
	Target      config.Database   // the server (any database on it)
	TargetDB    string
	Create      bool   // create TargetDB (it must not exist)
	Clean       bool   // allowed to replace what TargetDB holds
	Jobs        int    // parallel pg_restore jobs
	WithGlobals bool   // apply the globals sidecar (roles, tablespaces) first
	From        string // where to read the file (Job.From); empty: local, S3, destinations
	Path        string // a file a person named (Job.Path): read there, and only there
	// Step is told each step as it starts, with the time elapsed.
	Step func(elapsed time.Duration, what string)
	Log  *slog.Logger
}

// Result is what a restore did and found.
type Result struct {
	Database   string        `json:"database"`
	Mode       string        `json:"restore_mode"`
	Elapsed    time.Duration `json:"-"`
	Seconds    int           `json:"duration_seconds"`
	Mismatches []string      `json:"mismatches"`
	Warnings   []string      `json:"warnings"`
	// Catalog: the restored database held rgz-backup's catalog (its
	// default place), brought up to date from the manifests.
	Catalog *records.Rebuilt `json:"catalog_rebuilt,omitempty"`
}

// ErrNotEmpty means the target database already holds tables.
var ErrNotEmpty = errors.New("the target database is not empty")

// Into restores a backup into a named database for disaster recovery:
// checksums first, optionally the globals, then pg_restore, then the same
// comparison as the restore test. It needs no catalog: the row may come
// from the file's manifest.
func Into(ctx context.Context, o Options) (Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	step := func(what string) {
		if o.Step != nil {
			o.Step(time.Since(began), what)
		}
	}
	res := Result{Database: o.TargetDB}
	j := &Job{Config: o.Config, Row: o.Row, Database: o.TargetDB, Log: o.Log, From: o.From, Path: o.Path}
	db := o.Target.WithDatabase(o.TargetDB)

	step("locating " + o.Row.Filename)
	path, cleanup, err := j.LocalFile(ctx)
	if err != nil {
		return res, err
	}
	defer cleanup()
	step("verifying checksums (CRC32, SHA-256) and decompressing")
	plain, removePlain, err := j.Verify(ctx, path)
	if err != nil {
		return res, err
	}
	defer removePlain()

	if err := prepareTarget(ctx, o, db); err != nil {
		return res, err
	}
	if o.WithGlobals {
		step("applying the globals (roles, tablespaces)")
		opening, _, err := j.opening()
		if err != nil {
			return res, err
		}
		globals, removeGlobals, err := j.globalsFile(ctx)
		if err != nil {
			return res, err
		}
		defer removeGlobals()
		warnings, err := applyGlobals(ctx, j.tools(), o, globals, opening...)
		if err != nil {
			return res, err
		}
		res.Warnings = warnings
	}

	extra := []string{}
	if o.Clean {
		extra = append(extra, "--clean", "--if-exists")
	}
	err = j.RestoreFrom(ctx, path, plain, db, max(o.Jobs, 1), func(mode string) { step("restoring: " + mode) }, extra...)
	res.Mode = j.Mode
	if err != nil {
		return res, fmt.Errorf("restore into %s: %w", o.TargetDB, err)
	}

	step("comparing with what the backup recorded, then ANALYZE")
	mismatches, conn, err := j.Compare(ctx, db, "rgz-backup restore")
	res.Mismatches = mismatches
	if err != nil {
		return res, err
	}
	conn.Close(context.WithoutCancel(ctx))
	if len(res.Mismatches) == 0 && o.TargetDB == o.Config.Catalog.Name() {
		rebuilt, err := catalogInside(ctx, o.Config, db, step)
		if err != nil {
			res.Warnings = append(res.Warnings, "the catalog in "+o.TargetDB+" came back with it but could not be brought up to date: "+err.Error()+" (run rgz-backup catalog rebuild)")
		}
		res.Catalog = rebuilt
	}
	res.Elapsed = time.Since(began)
	res.Seconds = int(res.Elapsed.Round(time.Second).Seconds())
	step("done")
	if len(res.Mismatches) > 0 {
		return res, fmt.Errorf("the restored database differs from the backup in %d ways: %s", len(res.Mismatches), strings.Join(res.Mismatches, "; "))
	}
	return res, nil
}

// catalogInside brings up to date a catalog that came back with the
// restored database (by default the catalog lives in the backed-up
// database): the dump was taken while its own backup was running, so the
// catalog holds that backup as an attempt whose process is gone, and none
// of the backups taken since. Rebuilt from the manifests (records.Rebuild),
// the backup restored is the success it was and the later ones are there;
// nil when the database holds no catalog. Only a database restored under
// the catalog's own name is looked at: a side copy (rgz_restored) is left
// as it came back.
func catalogInside(ctx context.Context, cfg config.Config, db config.Database, step func(string)) (*records.Rebuilt, error) {
	conn, err := dbconn.Connect(ctx, db, "rgz-backup restore")
	if err != nil {
		return nil, err
	}
	var has bool
	err = conn.QueryRow(ctx, "SELECT to_regclass('public.backup_executions') IS NOT NULL").Scan(&has)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil || !has {
		return nil, err
	}
	step("the catalog came back with the database: bringing it up to date from the manifests")
	pool, err := catalog.OpenPool(ctx, db, "rgz-backup restore", 2)
	if err != nil {
		return nil, err
	}
	store := catalog.NewStore(pool)
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return nil, err
	}
	rebuilt, err := records.Rebuild(ctx, store, cfg)
	if err != nil {
		return nil, err
	}
	return &rebuilt, nil
}

// prepareTarget creates the database (--create) or makes sure that an
// existing one holds no tables, unless --clean allows replacing them.
func prepareTarget(ctx context.Context, o Options, db config.Database) error {
	admin, err := dbconn.Connect(ctx, o.Target, "rgz-backup restore")
	if err != nil {
		return fmt.Errorf("connect to the target server: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", o.TargetDB).Scan(&exists); err != nil {
		return err
	}
	switch {
	case o.Create && exists:
		return fmt.Errorf("--create: database %s already exists (restore into it without --create, with --clean to replace its content)", o.TargetDB)
	case o.Create:
		_, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{o.TargetDB}.Sanitize())
		return err
	case !exists:
		return fmt.Errorf("database %s does not exist (add --create)", o.TargetDB)
	}
	conn, err := dbconn.Connect(ctx, db, "rgz-backup restore")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'`).Scan(&tables); err != nil {
		return err
	}
	if tables > 0 && !o.Clean {
		return fmt.Errorf("%w: %s has %d tables; refusing to write into it without --clean (which drops and replaces the backup's objects)", ErrNotEmpty, o.TargetDB, tables)
	}
	return nil
}

// globalsFile is the backup's globals file (locate.Globals): beside the
// dump, else fetched from where the dump can be (S3, a destination).
func (j *Job) globalsFile(ctx context.Context) (string, func(), error) {
	found, err := locate.Globals(ctx, j.Config, j.Row, j.From, j.Path)
	if err != nil {
		return "", nil, fmt.Errorf("--with-globals: %w", err)
	}
	return found.Path, found.Close, nil
}

// applyGlobals runs the globals sidecar through psql on the target server.
// Errors there (a role that exists) are warnings: the database restore
// needs the roles to exist, not to be new.
func applyGlobals(ctx context.Context, tools dump.Tools, o Options, globals string, opening ...archive.ReadOption) ([]string, error) {
	f, err := os.Open(globals)
	if err != nil {
		return nil, fmt.Errorf("--with-globals: %w", err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := archive.CheckReader(ctx, f, archive.Gzip, pw, opening...)
		pw.CloseWithError(err)
	}()
	stderr, err := tools.ApplySQL(ctx, o.Target, pr)
	pr.Close()
	if err != nil {
		return nil, fmt.Errorf("apply globals: %w: %s", err, strings.TrimSpace(stderr))
	}
	var warnings []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if line != "" {
			warnings = append(warnings, "globals: "+line)
		}
	}
	return warnings, nil
}
