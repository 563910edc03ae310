package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
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
		return res.Job.ID, restoretest.ErrQueued
	}
	return res.Job.ID, nil
}

// RestoreTests queues restore tests on the daemon's queue for
// restoretest.Start.
type RestoreTests struct{ Client *Client }

// Enqueue queues the test whose record has id (restoretest.Queue).
func (q RestoreTests) Enqueue(ctx context.Context, filename string, by catalog.Trigger, id string) error {
	_, err := EnqueueRestoreTest(ctx, q.Client, filename, by, id)
	return err
}
