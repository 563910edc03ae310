package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/pitrproof"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// PITRRestoreTestKind is the point-in-time restore test (weekly, or asked
// for): on the restore tests' queue, so that it never runs beside a dump
// restore test on a replica.
const PITRRestoreTestKind = "rgz.backup.pitr_restore_test"

// PITRRestoreTestArgs: which server's archive (its target; empty: the
// first that streams), to what moment (nil: chosen), who asked, and the
// requested row, if any.
type PITRRestoreTestArgs struct {
	Target      string          `json:"target,omitempty"`
	To          *time.Time      `json:"to,omitempty"`
	TriggeredBy catalog.Trigger `json:"triggered_by"`
	TestID      string          `json:"test_id,omitempty"`
}

// Kind is River's name for the job.
func (PITRRestoreTestArgs) Kind() string { return PITRRestoreTestKind }

// InsertOpts: one live at a time across every replica; a failed test is
// an outcome, recorded, not something to retry.
func (PITRRestoreTestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RestoreTestQueue, MaxAttempts: 1, UniqueOpts: oneLive()}
}

type pitrRestoreTestWorker struct {
	river.WorkerDefaults[PITRRestoreTestArgs]
	deps
	streaming []targets.Server
}

// Timeout lets the test's own timeout act first and record the failure.
func (w *pitrRestoreTestWorker) Timeout(*river.Job[PITRRestoreTestArgs]) time.Duration {
	return time.Duration(w.cfg.RestoreTest.Timeout)*time.Second + time.Minute
}

func (w *pitrRestoreTestWorker) Work(ctx context.Context, job *river.Job[PITRRestoreTestArgs]) error {
	log := w.log.With("job_id", job.ID, "job", PITRRestoreTestKind)
	id, _ := uuid.Parse(job.Args.TestID)
	server, err := targets.ChooseStreaming(w.streaming, job.Args.Target)
	if err != nil {
		log.Error("point-in-time restore test: no such archive here", "error", err)
		if id != uuid.Nil { // asked for: say why it never ran
			now := w.clock.Now()
			kind := catalog.PITRTestRandom
			if job.Args.To != nil {
				kind = catalog.PITRTestChosen
			}
			_ = w.store.FinishPITRRestoreTest(ctx, catalog.PITRRestoreTest{ID: id, Kind: kind, Status: catalog.TestFailed,
				Target: job.Args.To, FinishedAt: &now, Error: "the replica that took it archives no such server: " + err.Error()})
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w.cfg.RestoreTest.Timeout)*time.Second)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("this program's path, for restore_command: %w", err)
	}
	o := PITRTestOptions(server, job.Args.To, job.Args.TriggeredBy, id, self)
	o.Log, o.Clock = log, w.clock
	t, err := pitrproof.Run(ctx, w.store, o)
	switch {
	case errors.Is(err, pitrproof.ErrTestRunning):
		log.Info("point-in-time restore test postponed: another one runs", "holder", err.Error())
		return river.JobSnooze(time.Minute)
	case t.Status == catalog.TestFailed:
		// Told even when the test ran out of time (its context has ended).
		w.Notify(context.WithoutCancel(ctx), notify.Event{Kind: notify.PITRRestoreTestFailed, PITRRestoreTest: &t, Host: hostname()})
	}
	return nil
}

// PITRTestOptions are a test's options for server's archive, as the
// daemon and the command line run it.
func PITRTestOptions(server targets.Server, to *time.Time, by catalog.Trigger, id uuid.UUID, self string) pitrproof.Options {
	cfg := server.Config
	o := pitrproof.Options{Config: cfg, Server: cfg.Database, To: to, TriggeredBy: by, ID: id, Self: self,
		Tools: dump.Tools{BinDir: cfg.PgBinDir}}
	if cfg.TargetsFile != "" {
		o.ServerTarget = server.Target
	}
	return o
}

// pitrTestPeriodic is the scheduled point-in-time restore test of each
// streaming server, when restore tests are enabled.
func pitrTestPeriodic(cfg config.Config, streaming []targets.Server) []*river.PeriodicJob {
	if !cfg.RestoreTest.Enabled {
		return nil
	}
	var out []*river.PeriodicJob
	for _, s := range streaming {
		target := s.Target
		out = append(out, river.NewPeriodicJob(s.Config.PITR.TestSchedule, func() (river.JobArgs, *river.InsertOpts) {
			unique := oneLive()
			unique.ByArgs = true
			return PITRRestoreTestArgs{Target: target, TriggeredBy: catalog.TriggerScheduled}, &river.InsertOpts{UniqueOpts: unique}
		}, &river.PeriodicJobOpts{ID: PeriodicID(PITRRestoreTestKind, target)}))
	}
	return out
}

// ErrPITRTestQueued is EnqueuePITRRestoreTest's error when a test is
// already waiting or running.
var ErrPITRTestQueued = errors.New("a point-in-time restore test is already queued or running")

// EnqueuePITRRestoreTest asks the daemon for a test of target's archive
// (""; the first that streams) to the moment to (nil: chosen), recorded
// under id.
func EnqueuePITRRestoreTest(ctx context.Context, client *Client, target string, to *time.Time, by catalog.Trigger, id uuid.UUID) error {
	res, err := client.Insert(ctx, PITRRestoreTestArgs{Target: target, To: to, TriggeredBy: by, TestID: id.String()}, nil)
	if err != nil {
		return fmt.Errorf("enqueue the point-in-time restore test: %w", err)
	}
	if res.UniqueSkippedAsDuplicate {
		return ErrPITRTestQueued
	}
	return nil
}

// ErrPITROff is RequestPITRRestoreTest's error where no archive streams.
var ErrPITROff = errors.New("no point-in-time recovery archive streams here (BACKUP_PITR_ENABLED, docs/PITR.md)")

// BadTargetError is RequestPITRRestoreTest's error for a target that does
// not stream (or, with several streaming, none named).
type BadTargetError struct{ Err error }

func (e *BadTargetError) Error() string { return "target: " + e.Err.Error() }
func (e *BadTargetError) Unwrap() error { return e.Err }

// RequestPITRRestoreTest records a requested test of target's archive
// ("": the only one that streams) to the moment to (nil: chosen), and
// queues it for the daemon: the API's and the console's. A moment no test
// can restore to is refused first (pitrplan.ErrUntestable), and nothing
// is recorded; nor is the row left behind when the queue refuses
// (ErrPITRTestQueued: one is waiting or running).
func RequestPITRRestoreTest(ctx context.Context, store *catalog.Store, client *Client, cfg config.Config, streaming []targets.Server,
	target string, to *time.Time, by catalog.Trigger, now time.Time) (uuid.UUID, error) {
	server, err := targets.ChooseStreaming(streaming, target)
	if err != nil {
		if len(streaming) == 0 {
			return uuid.Nil, ErrPITROff
		}
		if target == "" { // ChooseStreaming speaks to the command line
			var names []string
			for _, s := range targets.Streaming(streaming) {
				names = append(names, s.Target)
			}
			err = fmt.Errorf("%d servers stream (%s): name one", len(names), strings.Join(names, ", "))
		}
		return uuid.Nil, &BadTargetError{err}
	}
	if to != nil {
		if err := pitr.CheckMoment(ctx, store, *to, server.Config.PITR.ShipEvery); err != nil {
			return uuid.Nil, err
		}
	}
	ctx = context.WithoutCancel(ctx) // recorded and queued, or neither
	host, _ := os.Hostname()
	id, err := store.RequestPITRRestoreTest(ctx, to, by, now, host, os.Getpid())
	if err != nil {
		return uuid.Nil, err
	}
	if cfg.TargetsFile == "" {
		server.Target = ""
	}
	if err := EnqueuePITRRestoreTest(ctx, client, server.Target, to, by, id); err != nil {
		_ = store.DropPITRRequest(ctx, id)
		return uuid.Nil, err
	}
	return id, nil
}
