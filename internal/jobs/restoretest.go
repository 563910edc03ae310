package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/restoretest"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

const (
	// RestoreTestKind is the scheduled (weekly) restore test.
	RestoreTestKind = "rgz.backup.restore_test"
	// RestoreTestQueue is its own queue, so that an hour of restore test
	// never holds back a backup on the same replica.
	RestoreTestQueue = "rgz_restore_test"
)

// RestoreTestArgs: which backup (empty: the usual choice), and who asked.
type RestoreTestArgs struct {
	Filename    string          `json:"backup_filename,omitempty"`
	TriggeredBy catalog.Trigger `json:"triggered_by"`
	TestID      string          `json:"test_id,omitempty"` // the record's id, given out by the API
	// Target: the scheduled test of a target with a restore_test_schedule
	// of its own (its databases in turn). Empty: every database in turn,
	// those targets left out.
	Target string `json:"target,omitempty"`
}

// Kind is River's name for the job.
func (RestoreTestArgs) Kind() string { return RestoreTestKind }

// InsertOpts: one restore test live at a time across every replica; a
// failed test is an outcome, recorded, not something to retry.
func (RestoreTestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RestoreTestQueue, MaxAttempts: 1, UniqueOpts: oneLive()}
}

type restoreTestWorker struct {
	river.WorkerDefaults[RestoreTestArgs]
	deps
}

// Timeout lets the test's own timeout act first and record the failure.
func (w *restoreTestWorker) Timeout(*river.Job[RestoreTestArgs]) time.Duration {
	return time.Duration(w.cfg.RestoreTest.Timeout)*time.Second + time.Minute
}

func (w *restoreTestWorker) Work(ctx context.Context, job *river.Job[RestoreTestArgs]) error {
	log := w.log.With("job_id", job.ID, "job", RestoreTestKind)
	opts := restoretest.Options{Config: w.cfg, Filename: job.Args.Filename,
		TriggeredBy: job.Args.TriggeredBy, ID: job.Args.TestID, Log: log, Clock: w.clock, Target: job.Args.Target}
	if job.Args.Target == "" && job.Args.TriggeredBy == catalog.TriggerScheduled && w.fleet != nil {
		for _, s := range w.fleet.Servers() {
			if s.RestoreTestSchedule != "" {
				opts.Skip = append(opts.Skip, s.Target) // tested on their own schedule
			}
		}
	}
	rt, err := restoretest.Run(ctx, w.store, opts)
	switch {
	case errors.Is(err, restoretest.ErrNoBackup):
		log.Warn("restore test skipped: no successful backup yet")
	case err != nil:
		log.Error("restore test failed", "file", rt.BackupFilename, "error", err)
		if rt.ID != "" {
			row, _ := w.store.Get(ctx, rt.BackupID)
			w.Notify(ctx, notify.Event{Kind: notify.RestoreTestFailed, Backup: row, RestoreTest: &rt, Host: hostname()})
		}
	default:
		log.Info("restore test passed", "file", rt.BackupFilename, "seconds", rt.DurationSeconds)
	}
	return nil
}

// restoreTestPeriodic is the scheduled restore test, when enabled, and
// that of each target with a restore_test_schedule of its own.
func restoreTestPeriodic(cfg config.Config, fleet *targets.Fleet) []*river.PeriodicJob {
	if !cfg.RestoreTest.Enabled {
		return nil
	}
	jobs := []*river.PeriodicJob{river.NewPeriodicJob(cfg.RestoreTest.Schedule, func() (river.JobArgs, *river.InsertOpts) {
		return RestoreTestArgs{TriggeredBy: catalog.TriggerScheduled}, nil
	}, &river.PeriodicJobOpts{ID: RestoreTestKind})}
	if fleet != nil {
		jobs = append(jobs, targetRestoreTests(fleet.Servers())...)
	}
	return jobs
}

// targetRestoreTests are the scheduled restore tests of the targets with
// a schedule of their own; each is unique among live jobs of its target.
func targetRestoreTests(servers []targets.Server) []*river.PeriodicJob {
	return ownSchedules(servers, func(s targets.Server) string { return s.RestoreTestSchedule }, func(sched schedule.Schedule, target string) *river.PeriodicJob {
		return river.NewPeriodicJob(sched, func() (river.JobArgs, *river.InsertOpts) {
			unique := oneLive()
			unique.ByArgs = true
			return RestoreTestArgs{TriggeredBy: catalog.TriggerScheduled, Target: target}, &river.InsertOpts{UniqueOpts: unique}
		}, &river.PeriodicJobOpts{ID: PeriodicID(RestoreTestKind, target)})
	})
}

// EnqueueRestoreTest queues a restore test whose record will have id.
func EnqueueRestoreTest(ctx context.Context, client *Client, filename string, triggeredBy catalog.Trigger, id string) (int64, error) {
	res, err := client.Insert(ctx, RestoreTestArgs{Filename: filename, TriggeredBy: triggeredBy, TestID: id}, nil)
	if err != nil {
		return 0, fmt.Errorf("enqueue restore test: %w", err)
	}
	if res.UniqueSkippedAsDuplicate {
		return res.Job.ID, ErrRestoreTestQueued
	}
	return res.Job.ID, nil
}

// ErrRestoreTestQueued means a restore test is already waiting or running.
var ErrRestoreTestQueued = errors.New("a restore test is already queued or running")

// StartRequest is a person's or a client's request for a restore test:
// of one backup (by its id or its file name), or the usual choice.
type StartRequest struct {
	BackupID    string
	Filename    string
	TriggeredBy catalog.Trigger
	Now         time.Time
}

// Started is a restore test recorded as running and queued.
type Started struct {
	Test   catalog.RestoreTest
	Backup catalog.Execution
}

// ErrBadBackupName is a file name no backup of the tool's can have.
var ErrBadBackupName = errors.New("not a backup's file name")

// ErrNoGoodBackup is a request for a backup that is not there, or failed,
// or the usual choice when no backup can be chosen.
var ErrNoGoodBackup = errors.New("no good backup")

// AlreadyRunning is a request refused because a restore test is running
// (its record's id, when known) or queued.
type AlreadyRunning struct{ ID string }

func (a AlreadyRunning) Error() string { return "a restore test is already running or queued" }

// StartRestoreTest is the one way the API and the console start a
// restore test: it finds the backup, refuses while another test runs,
// records the test as running (so that its page exists at once), and
// queues it. A test that cannot be queued is recorded as failed, never
// left "running". Once the record is written, the caller going away
// (a closed connection) changes nothing.
func StartRestoreTest(ctx context.Context, store *catalog.Store, client *Client, cfg config.Config, req StartRequest) (Started, error) {
	row, err := requestedBackup(ctx, store, cfg, req)
	if err != nil {
		return Started{}, err
	}
	since := req.Now.Add(-time.Duration(cfg.RestoreTest.Timeout)*time.Second - time.Minute)
	if id, running, err := store.RunningRestoreTest(ctx, since); err != nil {
		return Started{}, err
	} else if running {
		return Started{}, AlreadyRunning{ID: id}
	}
	ctx = context.WithoutCancel(ctx)
	test := catalog.RestoreTest{ID: uuid.NewString(), BackupID: row.ID, StartedAt: req.Now.UTC(), Status: catalog.TestRunning, TriggeredBy: req.TriggeredBy}
	if err := store.BeginRestoreTest(ctx, test); err != nil {
		return Started{}, err
	}
	if _, err := EnqueueRestoreTest(ctx, client, row.Filename, req.TriggeredBy, test.ID); err != nil {
		// Nothing was tested: the record must not stay "running", and the
		// backup's own restore-test status is not touched (it was never
		// found wanting). One already queued (River's unique job, which a
		// scheduled test holds before it writes its record): the record
		// goes, and the caller hears 409.
		if errors.Is(err, ErrRestoreTestQueued) {
			if derr := store.DeleteRestoreTest(ctx, test.ID); derr != nil {
				return Started{}, errors.Join(err, derr)
			}
			return Started{}, AlreadyRunning{}
		}
		if ferr := store.AbandonRestoreTest(ctx, test.ID, req.Now, "not started: "+err.Error()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return Started{}, err
	}
	return Started{Test: test, Backup: row}, nil
}

// requestedBackup is the backup a request names, or the usual choice.
func requestedBackup(ctx context.Context, store *catalog.Store, cfg config.Config, req StartRequest) (catalog.Execution, error) {
	var row catalog.Execution
	var err error
	switch {
	case req.Filename != "":
		if !layout.IsDumpName(req.Filename) {
			return row, fmt.Errorf("%.80q: %w (%s)", req.Filename, ErrBadBackupName, layout.DumpNameHint)
		}
		row, err = store.ByFilename(ctx, req.Filename)
	case req.BackupID != "":
		row, err = store.Get(ctx, req.BackupID)
	default:
		rows, lerr := store.List(ctx, catalog.Filter{OnDisk: true})
		if lerr != nil {
			return row, lerr
		}
		var ok bool
		if row, ok = restoretest.Choose(rows, req.Now, cfg.RestoreTest.BackupAgeDays); !ok {
			return row, fmt.Errorf("%w to test yet", ErrNoGoodBackup)
		}
	}
	if errors.Is(err, catalog.ErrNotFound) || err == nil && !row.Status.Good() {
		return row, fmt.Errorf("%w named %s", ErrNoGoodBackup, cmp.Or(req.Filename, req.BackupID))
	}
	return row, err
}
