// Package pitrproof is the point-in-time recovery restore test (issue 29,
// docs/PITR.md): it restores the archive to a moment (drawn from the
// window, the oldest one once a month, or a person's) into a scratch
// cluster that only this process reaches and that never archives, checks
// that recovery stopped there, that the copy is consistent (amcheck) and
// that it holds what the server held then (the daemon's heartbeat),
// records the outcome, and removes the copy.
package pitrproof

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/basebackup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/disk"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/restoretest"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// Options of one test.
type Options struct {
	Config config.Config
	// Server is the archived server: the test reads its system
	// identifier and its heartbeat, which the copy is compared with.
	Server config.Database
	// ServerTarget is the targets file's server whose settings the
	// archive is read with ("": the environment's), passed to
	// restore_command.
	ServerTarget string
	To           *time.Time      // the moment to restore to; nil: chosen
	TriggeredBy  catalog.Trigger // scheduled, manual (when empty), api
	ID           uuid.UUID       // a requested test's row; zero: a new one
	Self         string          // this program, for restore_command
	Tools        dump.Tools
	Clock        clock.Clock
	Log          *slog.Logger
	Draw         func(n int64) int64 // how a moment is drawn; rand.Int64N when nil
	Wait         time.Duration       // how long recovery may take; 0: a day
}

// slack is how close to the target a heartbeat may be and not be
// compared: its commit came a little after the time it holds.
const slack = 2 * time.Second

// ErrTestRunning is Run's error when another point-in-time restore test
// runs (nothing is recorded).
var ErrTestRunning = errors.New("another point-in-time restore test is running")

// Run tests the archive once and records the test (pitr_restore_tests,
// and on the base backup's row restore_tested_at and
// restore_test_status). It returns the record; the error says why the
// test failed (its problems included).
func Run(ctx context.Context, store *catalog.Store, o Options) (catalog.PITRRestoreTest, error) {
	clk := clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Draw == nil {
		o.Draw = rand.Int64N
	}
	host, _ := os.Hostname()
	t := catalog.PITRRestoreTest{ID: o.ID, Kind: catalog.PITRTestRandom, TriggeredBy: o.TriggeredBy,
		StartedAt: clk.Now(), Hostname: host, PID: os.Getpid(), Problems: []string{}}
	if t.ID == uuid.Nil {
		t.ID = uuid.New()
	}
	if t.TriggeredBy == "" {
		t.TriggeredBy = catalog.TriggerManual
	}
	if o.To != nil {
		t.Kind, t.Target = catalog.PITRTestChosen, o.To
	}
	// One test at a time, across replicas and the command line: each
	// copies a whole cluster onto its host's disk.
	release, err := lock.Take(ctx, o.Config.Catalog, lock.Me(), lock.ForPITRTest())
	var held *lock.HeldError
	if errors.As(err, &held) {
		return t, fmt.Errorf("%w: %s", ErrTestRunning, held.Holder)
	}
	if err != nil {
		return t, fmt.Errorf("the restore tests' lock: %w", err)
	}
	defer release()
	if err := store.BeginPITRRestoreTest(ctx, t); err != nil {
		return t, fmt.Errorf("record the restore test: %w", err)
	}
	log := o.Log.With("pitr_restore_test", t.ID.String())
	log.Info("point-in-time restore test started")
	err = test(ctx, store, o, &t, log)
	finished := clk.Now()
	t.FinishedAt = &finished
	t.Status = catalog.TestSuccess
	if err == nil && len(t.Problems) > 0 {
		err = errors.New(strings.Join(t.Problems, "; "))
	}
	if err != nil {
		t.Status, t.Error = catalog.TestFailed, err.Error()
	}
	if ferr := store.FinishPITRRestoreTest(context.WithoutCancel(ctx), t); ferr != nil {
		err = errors.Join(err, fmt.Errorf("record the restore test's outcome: %w", ferr))
	}
	if t.BaseBackupLabel != "" {
		keepBeside(context.WithoutCancel(ctx), o.Config, t, log)
	}
	if err != nil {
		log.Error("point-in-time restore test failed", "error", err)
	} else {
		log.Info("point-in-time restore test succeeded", "target", t.Target, "rto_seconds", t.RTOSeconds)
	}
	return t, err
}

// test restores, checks and removes the copy, filling t in as it goes.
func test(ctx context.Context, store *catalog.Store, o Options, t *catalog.PITRRestoreTest, log *slog.Logger) error {
	clk := clock.Or(o.Clock)
	src, err := dbconn.Connect(ctx, o.Server, "rgz-backup pitr restore test")
	if err != nil {
		return fmt.Errorf("connect to the server (its heartbeat is what the copy is compared with): %w", err)
	}
	defer src.Close(context.WithoutCancel(ctx))
	// The copy is entered as the same role, in the same database: both
	// exist there, whatever the OS user is called.
	var sysid, role, database string
	if err := src.QueryRow(ctx, `SELECT system_identifier::text, current_user, current_database() FROM pg_control_system()`).
		Scan(&sysid, &role, &database); err != nil {
		return fmt.Errorf("read the server's system identifier: %w", err)
	}
	if t.SystemID, err = strconv.ParseUint(sysid, 10, 64); err != nil {
		return fmt.Errorf("the server's system identifier %q: %w", sysid, err)
	}
	arch, err := pitr.FromCatalog(ctx, store, t.SystemID)
	if err != nil {
		return err
	}
	windows := arch.Windows()
	if t.Target == nil {
		started := t.StartedAt.UTC()
		monthStart := time.Date(started.Year(), started.Month(), 1, 0, 0, 0, 0, time.UTC)
		tested, err := store.OldestTestedSince(ctx, t.SystemID, monthStart)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		target, err := pitrplan.TestTarget(windows, pitr.TestMargin(o.Config.PITR.ShipEvery), !tested, o.Draw)
		if err != nil {
			return err
		}
		t.Target = &target
		if !tested {
			t.Kind = catalog.PITRTestOldest
		}
	}
	target := *t.Target
	w, err := pitrplan.Choose(windows, pitrplan.Target{Time: target})
	if err != nil {
		return err
	}
	t.BaseBackupLabel = w.Base.Label
	var rawSize int64
	if bases, err := store.BaseBackups(ctx, t.SystemID); err == nil {
		for _, b := range bases {
			if b.Label == w.Base.Label && b.Status == "success" {
				t.BaseBackupID, rawSize = &b.ID, b.RawSize
			}
		}
	}
	if err := roomFor(o.Config, rawSize); err != nil {
		return err
	}
	before, after, err := pitr.Heartbeats(ctx, src, target, slack)
	if err != nil {
		return fmt.Errorf("read the server's heartbeat: %w", err)
	}
	t.HeartbeatBefore, t.HeartbeatAfter = before, after

	scratch, err := Claim(ctx, o.Config.LocalDir, t.ID, log)
	if err != nil {
		return err
	}
	defer scratch.Remove(context.WithoutCancel(ctx))
	log.Info("point-in-time restore test: restoring", "target", target, "kind", t.Kind, "base_backup", w.Base.Label, "into", scratch.DataDir)
	ro := pitr.RestoreOptions{Config: o.Config, Catalog: store, SystemID: t.SystemID, Target: pitrplan.Target{Time: target},
		ServerTarget: o.ServerTarget, DataDir: scratch.DataDir, Port: scratchPort, Pause: true, Scratch: true,
		User: role, Self: o.Self, Tools: o.Tools, Clock: clk, Log: log, Wait: o.Wait}
	res, err := pitr.Restore(ctx, ro)
	t.FetchSeconds, t.ReplaySeconds = res.FetchSeconds, res.ReplaySeconds
	if err != nil {
		return fmt.Errorf("restore to %s: %w", target.UTC().Format(time.RFC3339), err)
	}
	t.ReachedLSN, t.ReachedTime = res.ReachedLSN, res.ReachedTime
	reached, _ := wal.ParseLSN(res.ReachedLSN)
	t.ReplayBytes = max(0, int64(reached)-int64(w.Base.Start))

	copyDB, err := pgx.Connect(ctx, pitr.SocketURL(ro, database))
	if err != nil {
		return fmt.Errorf("connect to the restored copy: %w", err)
	}
	defer copyDB.Close(context.WithoutCancel(ctx))
	// Promoted, the copy is what a person would use: the RTO is the time
	// to here. amcheck needs a writable cluster for its extension, and
	// the new timeline's history says which one recovery stopped on.
	var promoted bool
	if err := copyDB.QueryRow(ctx, `SELECT pg_promote(true, 600)`).Scan(&promoted); err != nil || !promoted {
		return fmt.Errorf("promote the restored copy (it did not end recovery within 10 minutes): %v", err)
	}
	t.RTOSeconds = clk.Now().Sub(t.StartedAt).Seconds()
	if t.Timeline, err = stoppedOn(ctx, copyDB, scratch.DataDir); err != nil {
		return err
	}
	found := Found{}
	if before != nil {
		if found.Before, err = pitr.HasHeartbeat(ctx, copyDB, *before); err != nil {
			return fmt.Errorf("read the copy's heartbeat: %w", err)
		}
	}
	if after != nil {
		if found.After, err = pitr.HasHeartbeat(ctx, copyDB, *after); err != nil {
			return fmt.Errorf("read the copy's heartbeat: %w", err)
		}
	}
	if now, err := pitr.FromCatalog(ctx, store, t.SystemID); err == nil {
		arch, w = now, grown(w, now.Windows())
	}
	t.Problems = append(t.Problems, Judge(arch, w, *t, found, pitr.HeartbeatEvery(o.Config.PITR.ShipEvery))...)
	checked, corrupt, err := checkEveryDatabase(ctx, ro, copyDB)
	t.IndexesChecked = checked
	t.Problems = append(t.Problems, corrupt...)
	return err
}

// grown is window w as it stands in later, the windows of the archive
// read again after the restore. A live archive grows while a test
// replays: the partial copy of the segment being written is replaced by
// a longer one, and recovery may read that newer copy, so the WAL it
// replayed can end past where the window ended when the test chose its
// target. The window starts at the same base backup; when later has no
// such window, or a shorter one, w as it was is the one to judge by.
func grown(w pitrplan.Window, later []pitrplan.Window) pitrplan.Window {
	for _, l := range later {
		if l.Base.Label == w.Base.Label && l.FromLSN == w.FromLSN && l.ToLSN >= w.ToLSN {
			return l
		}
	}
	return w
}

// roomFor refuses a test whose copy would not fit in BACKUP_LOCAL_DIR
// beside the backups' own floor (BACKUP_MIN_FREE_SPACE_GB): the base
// backup unpacked, a tenth more, and 512 MiB of WAL replayed through it.
// A full disk there stops the WAL stream's spool too.
func roomFor(cfg config.Config, rawSize int64) error {
	u, err := disk.UsageOf(cfg.LocalDir)
	if err != nil {
		return err
	}
	need := uint64(rawSize+rawSize/10) + 512<<20 + uint64(cfg.MinFreeSpaceGB)<<30
	if u.Free < need {
		return fmt.Errorf("BACKUP_LOCAL_DIR %s has %d MiB free; the copy of this base backup needs %d MiB and BACKUP_MIN_FREE_SPACE_GB must stay free",
			cfg.LocalDir, u.Free>>20, need>>20)
	}
	return nil
}

// stoppedOn is the timeline recovery stopped on: the parent in the last
// line of the history file the copy wrote when it was promoted (a paused
// server's checkpoint says only where its last restartpoint was).
func stoppedOn(ctx context.Context, conn *pgx.Conn, dataDir string) (uint32, error) {
	var file string
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&file); err != nil {
		return 0, fmt.Errorf("the copy's timeline: %w", err)
	}
	tli, err := strconv.ParseUint(file[:8], 16, 32)
	if err != nil {
		return 0, fmt.Errorf("the copy's timeline: %q: %w", file, err)
	}
	history, err := os.ReadFile(filepath.Join(dataDir, "pg_wal", wal.HistoryName(uint32(tli))))
	if err != nil {
		return 0, fmt.Errorf("the copy's new timeline's history: %w", err)
	}
	switches, err := wal.ParseHistory(uint32(tli), string(history))
	if err != nil || len(switches) == 0 {
		return 0, fmt.Errorf("the copy's new timeline's history %s: %v", wal.HistoryName(uint32(tli)), err)
	}
	return switches[len(switches)-1].Parent, nil
}

// scratchPort is the scratch cluster's port: it names its socket only
// (listen_addresses is empty), in its own private directory.
const scratchPort = 5432

// Found is what the copy holds of the server's heartbeats around the
// target.
type Found struct{ Before, After bool }

// Judge says what is wrong with a restore that stopped where t says,
// from window w of archive arch: recovery went past the target, stopped
// outside the window's WAL or off its timelines, or the copy lacks the
// server's last heartbeat before the target or holds its first after it.
//
// every is how often the server's heartbeat is written: past that after
// the window's start, there must be one before the target.
func Judge(arch pitrplan.Archive, w pitrplan.Window, t catalog.PITRRestoreTest, found Found, every time.Duration) []string {
	var problems []string
	target := *t.Target
	if t.ReachedTime != nil && t.ReachedTime.After(target) {
		problems = append(problems, fmt.Sprintf("recovery replayed a transaction of %s, after the target %s",
			t.ReachedTime.UTC().Format(time.RFC3339Nano), target.UTC().Format(time.RFC3339Nano)))
	}
	reached, err := wal.ParseLSN(t.ReachedLSN)
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("recovery stopped at an LSN that cannot be read (%q)", t.ReachedLSN))
	case reached < w.FromLSN || reached > w.ToLSN:
		problems = append(problems, fmt.Sprintf("recovery stopped at LSN %s, outside the window's WAL (%s to %s)", reached, w.FromLSN, w.ToLSN))
	}
	if path := arch.Latest(w.Base.Timeline, w.Base.Start); err == nil && t.Timeline != path.TimelineAt(reached) {
		problems = append(problems, fmt.Sprintf("recovery stopped on timeline %d at LSN %s, where the window's path to timeline %d is on timeline %d",
			t.Timeline, reached, path.Timeline, path.TimelineAt(reached)))
	}
	switch {
	case t.HeartbeatBefore == nil && t.HeartbeatAfter == nil:
		problems = append(problems, "the server has no heartbeat around the target ("+pitr.HeartbeatTable+
			"): the copy's contents could not be compared; the daemon's log says why it cannot write it")
	case t.HeartbeatAfter == nil:
		problems = append(problems, "the server has no heartbeat after the target yet: the copy's contents could not be compared past it")
	case t.HeartbeatBefore == nil && target.Sub(w.From) > 2*every+slack:
		problems = append(problems, "the server has no heartbeat before the target, "+target.Sub(w.From).Round(time.Second).String()+
			" into the window: the copy's contents could not be compared before it")
	}
	if t.HeartbeatBefore != nil && !found.Before {
		problems = append(problems, fmt.Sprintf("the copy lacks the server's heartbeat of %s, before the target: recovery stopped short of it",
			t.HeartbeatBefore.UTC().Format(time.RFC3339Nano)))
	}
	if t.HeartbeatAfter != nil && found.After {
		problems = append(problems, fmt.Sprintf("the copy holds the server's heartbeat of %s, after the target: recovery went past it",
			t.HeartbeatAfter.UTC().Format(time.RFC3339Nano)))
	}
	return problems
}

// checkEveryDatabase runs amcheck over every database of the copy that
// takes connections, as its bootstrap superuser (amcheck's functions are
// not for every role): how many indexes it checked, and what is corrupt.
func checkEveryDatabase(ctx context.Context, ro pitr.RestoreOptions, conn *pgx.Conn) (int, []string, error) {
	var super string
	if err := conn.QueryRow(ctx, `SELECT rolname FROM pg_roles WHERE oid = 10`).Scan(&super); err != nil {
		return 0, nil, fmt.Errorf("read the copy's superuser: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname`)
	if err != nil {
		return 0, nil, fmt.Errorf("list the copy's databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, nil, fmt.Errorf("list the copy's databases: %w", err)
	}
	ro.User = super
	checked, corrupt := 0, []string{}
	for _, name := range names {
		db, err := pgx.Connect(ctx, pitr.SocketURL(ro, name))
		if err != nil {
			return checked, corrupt, fmt.Errorf("connect to the copy's database %s: %w", name, err)
		}
		n, bad, err := restoretest.CheckIndexes(ctx, db)
		db.Close(context.WithoutCancel(ctx))
		checked += n
		for _, b := range bad {
			corrupt = append(corrupt, "database "+name+": "+b)
		}
		if err != nil {
			return checked, corrupt, fmt.Errorf("database %s: %w", name, err)
		}
	}
	return checked, corrupt, nil
}

// keepBeside writes the test's record beside its base backup in every
// place of the archive (basebackup.TestKey). The catalog holds it
// already: a place that refuses it is said, and the test's outcome stands.
func keepBeside(ctx context.Context, cfg config.Config, t catalog.PITRRestoreTest, log *slog.Logger) {
	record, err := json.MarshalIndent(t, "", "  ")
	if err == nil {
		var places destination.Opened
		if places, err = pitr.OpenPlaces(cfg); err == nil {
			defer places.Close()
			err = sealed.PutBytes(ctx, places.Stores, basebackup.TestKey(t.SystemID, t.BaseBackupLabel), append(record, '\n'))
		}
	}
	if err != nil {
		log.Warn("point-in-time restore test: its record is not beside its base backup (the catalog has it)", "error", err)
	}
}
