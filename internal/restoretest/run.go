package restoretest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/disk"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/records"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/restore"
)

// Options of one restore test.
type Options struct {
	Config   config.Config
	Filename string // the backup to test; empty: Choose
	// Database restricts Choose to one database's backups, on Target
	// (the default target when Target is empty); empty: with
	// BACKUP_DATABASES, the database whose turn it is (Rotate).
	Database string
	// Target restricts Choose to one target's backups (a target with a
	// restore_test_schedule of its own); Skip leaves out those targets
	// (the environment's schedule, which tests the others).
	Target      string
	Skip        []string
	Keep        bool            // leave the scratch database for a look
	TriggeredBy catalog.Trigger // scheduled, manual (when empty), api
	ID          string          // the record's id, when the API has given one out already
	Log         *slog.Logger
	Clock       clock.Clock // the real clock when nil
	From        string      // where to read the backup (restore.Job.From); empty: local, S3, destinations
	// AfterRestore runs once the copy is restored, before it is compared:
	// the tests damage the copy here to prove the comparison sees it.
	AfterRestore func(ctx context.Context, scratch config.Database) error
	// FreeBytes says how much room the backup directory has for the
	// decompressed archive (restore.RoomToDecompress); default: its file
	// system's free space.
	FreeBytes func(dir string) (uint64, error)
}

// FailedBackup is a backup named for a test whose attempt failed.
type FailedBackup struct{ Filename string }

func (f *FailedBackup) Error() string {
	return "backup " + f.Filename + " failed: there is nothing to restore"
}

// ErrNoBackup means there is no good backup to test.
var ErrNoBackup = errors.New("no successful backup to test")

// Run tests one backup and records the test (backup_restore_tests, and
// restore_tested_at / restore_test_status on the backup's row). It returns
// the record; the error says why it failed (mismatches included). With a
// nil store (the catalog is unreachable: it may have lived in the lost
// database) the backups' manifests say what to expect, and the record is
// returned only.
func Run(ctx context.Context, store *catalog.Store, o Options) (catalog.RestoreTest, error) {
	o.Clock = clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.TriggeredBy == "" {
		o.TriggeredBy = catalog.TriggerManual
	}
	// With the catalog, only it: the test's record refers to its row.
	row, err := pick(ctx, records.For(store, o.Config.LocalDir, false), o)
	if err != nil {
		return catalog.RestoreTest{}, err
	}
	started := o.Clock.Now().UTC().Truncate(time.Microsecond)
	if o.ID == "" {
		o.ID = uuid.NewString()
	}
	scratch := ScratchName(started, o.ID)
	host, _ := os.Hostname()
	rt := catalog.RestoreTest{ID: o.ID, BackupID: row.ID, BackupFilename: row.Filename, StartedAt: started,
		Status: catalog.TestRunning, TriggeredBy: o.TriggeredBy, ScratchDatabase: &scratch, Hostname: &host, Mismatches: []string{}}
	// Own the scratch database before anything names it (scratch.go):
	// killed, we leave nothing a sweep would not take.
	server := ServerOf(o.Config.RestoreTest.Target)
	rt.ScratchServer = &server
	own, claimErr := claim(ctx, o.Config.RestoreTest.Target, scratch, o.Log)
	if claimErr == nil {
		defer own.release(ctx)
	}
	if store != nil {
		if err := store.BeginRestoreTest(ctx, rt); err != nil {
			return rt, err
		}
	}
	log := o.Log.With("restore_test", rt.ID, "file", row.Filename, "scratch", scratch)
	log.Info("restore test started")

	timeout := time.Duration(o.Config.RestoreTest.Timeout) * time.Second
	testCtx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timeout after %ds", o.Config.RestoreTest.Timeout))
	defer cancel()
	t := &test{Job: &restore.Job{Config: o.Config, Row: row, Database: scratch, Log: log, FreeBytes: o.FreeBytes, From: o.From}, o: o, scratch: scratch, own: own}
	mismatches, err := []string(nil), claimErr
	if claimErr == nil {
		if swept, serr := Sweep(testCtx, store, o.Config.RestoreTest.Target, o.Clock.Now(), log); serr != nil {
			log.Warn("scratch databases of earlier tests not swept", "error", serr)
		} else if len(swept.Dropped)+len(swept.Abandoned) > 0 {
			log.Warn("cleaned up after restore tests whose process died", "dropped", swept.Dropped, "abandoned", swept.Abandoned)
		}
		mismatches, err = t.run(testCtx)
	}
	if cause := context.Cause(testCtx); err != nil && cause != nil && !strings.Contains(err.Error(), cause.Error()) {
		err = fmt.Errorf("%w: %w", cause, err)
	}

	end := o.Clock.Now().UTC().Truncate(time.Microsecond)
	secs := int(end.Sub(started).Round(time.Second).Seconds())
	rt.FinishedAt, rt.DurationSeconds, rt.Mismatches = &end, &secs, mismatches
	if t.Mode != "" {
		rt.RestoreMode = &t.Mode
	}
	rt.Status = catalog.TestSuccess
	switch {
	case err != nil:
		msg := err.Error()
		rt.Status, rt.ErrorMessage = catalog.TestFailed, &msg
	case len(mismatches) > 0:
		msg := fmt.Sprintf("the restored copy differs from the backup in %d ways", len(mismatches))
		rt.Status, rt.ErrorMessage = catalog.TestFailed, &msg
		err = errors.New(msg + ": " + strings.Join(mismatches, "; "))
	}
	recordCtx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancelRecord()
	if store != nil {
		if rerr := store.FinishRestoreTest(recordCtx, rt); rerr != nil {
			return rt, errors.Join(err, rerr)
		}
	}
	if files, ferr := layout.Of(row, o.Config.LocalDir); ferr != nil {
		log.Warn("the restore test's outcome is not kept beside the backup", "error", ferr)
	} else if werr := layout.RecordTestBeside(files.Dump, rt); werr != nil {
		log.Warn("the restore test's outcome could not be kept beside the backup", "error", werr)
	}
	log.Info("restore test finished", "status", rt.Status, "seconds", secs, "mode", t.Mode, "mismatches", len(mismatches))
	return rt, err
}

// pick finds the backup named, or chooses one, from the records: the
// catalog's, or without one the manifests'.
func pick(ctx context.Context, from []records.Reader, o Options) (catalog.Execution, error) {
	if o.Filename != "" {
		row, _, err := records.Find(ctx, from, o.Filename)
		if err != nil {
			return row, fmt.Errorf("backup %s: %w", o.Filename, err)
		}
		if row.Status == catalog.StatusFailed {
			return row, &FailedBackup{Filename: row.Filename}
		}
		return row, nil
	}
	rows, _, err := records.FirstOnDisk(ctx, from)
	if err != nil {
		return catalog.Execution{}, err
	}
	rows = OfTargets(rows, o.Target, o.Skip)
	var db DB
	switch {
	case o.Database != "":
		db = DB{Target: cmp.Or(o.Target, catalog.DefaultTarget), Name: o.Database}
	case o.Config.Several():
		db, _ = Rotate(rows)
	}
	if db.Name != "" {
		if rows = OfDatabase(rows, db); len(rows) == 0 {
			return catalog.Execution{}, fmt.Errorf("%w of database %s", ErrNoBackup, db)
		}
	}
	row, ok := Choose(rows, o.Clock.Now(), o.Config.RestoreTest.BackupAgeDays)
	if !ok {
		return row, ErrNoBackup
	}
	return row, nil
}

// test is the state of one run: a restore job into its scratch database.
type test struct {
	*restore.Job
	o       Options
	scratch string
	own     *owner // the session that owns the scratch database
}

func (t *test) run(ctx context.Context) (mismatches []string, err error) {
	cfg := t.o.Config
	path, cleanup, err := t.LocalFile(ctx)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	// 1. Checksums first: a damaged file is never restored.
	plain, removePlain, err := t.Verify(ctx, path)
	if err != nil {
		return nil, err
	}
	defer removePlain()

	// 2. The scratch database, on the target server only.
	target := cfg.RestoreTest.Target
	scratchDB := target.WithDatabase(t.scratch)
	if err := t.checkTargetRoom(ctx, target); err != nil {
		return nil, err
	}
	// The drop is set before the create: a create cut by the test's
	// timeout may still complete on the server (its cancel arrives too
	// late), and the database is ours all the same.
	created := false
	defer func() {
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if t.o.Keep && created {
			if kerr := t.own.keep(endCtx, t.scratch); kerr != nil {
				t.Log.Error("scratch database not marked as kept: the next restore test will drop it", "error", kerr)
			}
			return
		}
		if derr := dropScratch(endCtx, target, t.scratch); derr != nil {
			t.Log.Error("scratch database not dropped", "error", derr)
			err = errors.Join(err, derr)
		}
	}()
	if err := createScratch(ctx, target, t.scratch); err != nil {
		return nil, err
	}
	created = true

	// 3. Restore.
	if err := t.RestoreFrom(ctx, path, plain, scratchDB, max(2, runtime.NumCPU()), func(string) {}); err != nil {
		return nil, fmt.Errorf("restore into %s (%s): %w", t.scratch, t.Mode, err)
	}
	t.Log.Info("restored", "mode", t.Mode)
	if t.o.AfterRestore != nil {
		if err := t.o.AfterRestore(ctx, scratchDB); err != nil {
			return nil, err
		}
	}

	// 4. Compare, then check the copy's health.
	mismatches, conn, err := t.Compare(ctx, scratchDB, "rgz-backup restore test")
	if err != nil {
		return mismatches, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, corrupt, err := CheckIndexes(ctx, conn)
	if err != nil {
		return mismatches, err
	}
	return append(mismatches, corrupt...), nil
}

// checkTargetRoom compares the target's free space, when its data
// directory is visible from here, with the uncompressed size.
func (t *test) checkTargetRoom(ctx context.Context, target config.Database) error {
	if t.Row.UncompressedSizeBytes == nil {
		return nil
	}
	conn, err := dbconn.Connect(ctx, target, "rgz-backup restore test")
	if err != nil {
		return fmt.Errorf("connect to the restore-test server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var dataDir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dataDir); err != nil {
		t.Log.Info("free space of the target not checked: its data directory is not readable by this role")
		return nil
	}
	usage, err := disk.UsageOf(dataDir)
	if err != nil {
		t.Log.Info("free space of the target not checked: its data directory is on another host", "data_directory", dataDir)
		return nil
	}
	return RoomProblem(usage.Free, uint64(*t.Row.UncompressedSizeBytes), dataDir)
}

// RoomProblem says what a server lacks to restore a copy of about need
// bytes (the uncompressed archive) with free bytes left in dataDir.
func RoomProblem(free, need uint64, dataDir string) error {
	if free >= need {
		return nil
	}
	return fmt.Errorf("the restore-test server has %s free in %s, the restored copy needs about %s (the uncompressed size): free %s there or set BACKUP_RESTORE_TEST_DATABASE_URL to another server",
		report.Bytes(int64(free)), dataDir, report.Bytes(int64(need)), report.Bytes(int64(need-free)))
}

// createScratch creates the scratch database, refusing a name that exists:
// a restore test touches no database but its own.
func createScratch(ctx context.Context, target config.Database, name string) error {
	if !strings.HasPrefix(name, ScratchPrefix) {
		return fmt.Errorf("refusing scratch database %q: not an rgz restore-test name", name)
	}
	conn, err := dbconn.Connect(ctx, target, "rgz-backup restore test")
	if err != nil {
		return fmt.Errorf("connect to the restore-test server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("refusing to restore into %s: a database of that name already exists", name)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create scratch database %s: %w", name, err)
	}
	return nil
}

func dropScratch(ctx context.Context, target config.Database, name string) error {
	if !strings.HasPrefix(name, ScratchPrefix) {
		return fmt.Errorf("refusing to drop %q: not an rgz restore-test name", name)
	}
	conn, err := dbconn.Connect(ctx, target, "rgz-backup restore test")
	if err != nil {
		return fmt.Errorf("connect to drop %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop scratch database %s: %w", name, err)
	}
	return nil
}

// CheckIndexes runs amcheck's bt_index_check over every btree index of
// the copy outside the system schemas: how many it checked, and each
// corrupt one, said. The point-in-time restore test runs it too.
func CheckIndexes(ctx context.Context, conn *pgx.Conn) (checked int, corrupt []string, err error) {
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS amcheck"); err != nil {
		return 0, nil, fmt.Errorf("amcheck (package postgresql-contrib) on the restore-test server: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT c.oid::regclass::text FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'`)
	if err != nil {
		return 0, nil, fmt.Errorf("list indexes: %w", err)
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, nil, fmt.Errorf("list indexes: %w", err)
	}
	for _, idx := range indexes {
		if _, err := conn.Exec(ctx, "SELECT bt_index_check($1::regclass)", idx); err != nil {
			if ctx.Err() != nil {
				return checked, corrupt, err
			}
			corrupt = append(corrupt, fmt.Sprintf("index %s fails amcheck: %v", idx, err))
		}
		checked++
	}
	return checked, corrupt, nil
}
