package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/backuprun"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/schedule"
)

// worker runs one attempt of a backup job.
type worker struct {
	river.WorkerDefaults[BackupArgs]
	deps
	shutdown context.Context
	globals  runGlobals // with several databases: each run's, shared by its jobs here
}

// NextRetry follows the specification: 30 s, 60 s, then 120 s after attempts 1-3.
func (w *worker) NextRetry(job *river.Job[BackupArgs]) time.Time {
	delay, _ := schedule.RetryDelay(job.Args.attempt(job.Attempt), w.cfg.RetryDelays)
	return w.clock.Now().Add(delay)
}

func (w *worker) Work(ctx context.Context, job *river.Job[BackupArgs]) error {
	args := job.Args
	if w.cfg.Several() && args.Database == "" {
		return w.startRun(ctx, job)
	}
	attempt := args.attempt(job.Attempt)
	log := w.log.With("job_id", job.ID, "attempt", attempt, "run_id", args.RunID)
	opts := backup.Options{Config: w.cfg, Attempt: attempt, RunID: args.RunID, JobID: job.ID, Clock: w.clock}
	newest := func(ctx context.Context) (time.Time, error) { return newestSuccess(ctx, w.store) }
	if args.Database != "" {
		if w.fleet == nil {
			return river.JobCancel(fmt.Errorf("a backup of database %s, but this daemon backs up one database (no BACKUP_DATABASES nor BACKUP_TARGETS_FILE)", args.Database))
		}
		unit, err := w.unitOf(args)
		if err != nil {
			return river.JobCancel(err)
		}
		log = log.With("target", args.Target, "database", args.Database)
		opts.Config, opts.Target, opts.Database, opts.SlotWait = unit.Config, unit.Target, unit.Database, slotWait
		if args.Batch != "" {
			opts.Globals = w.globals.of(args.Batch)
		}
		newest = func(ctx context.Context) (time.Time, error) {
			return newestSuccessOf(ctx, w.store, args.Target, args.Database)
		}
	}
	// A database's job in a run is told in the run's summary, not alone.
	alone := args.Batch == ""
	if attempt > 1 {
		recorded, err := w.store.RunAttempts(ctx, args.RunID)
		if err != nil {
			return err
		}
		if Superseded(attempt, recorded) {
			log.Info("the run went on in another job while this one's process was gone: nothing to do")
			return nil
		}
	}
	triggeredBy := args.TriggeredBy
	if !args.Slot.IsZero() {
		newest, err := newest(ctx)
		if err != nil {
			return err
		}
		decision, why := schedule.Decide(args.Slot, w.clock.Now(), w.cfg.Tolerance, newest)
		switch decision {
		case schedule.Skip:
			log.Info("scheduled backup skipped", "slot", args.Slot, "reason", why)
			return nil
		case schedule.CatchUp:
			log.Warn("scheduled backup runs as a catch-up", "slot", args.Slot, "reason", why)
			triggeredBy = catalog.TriggerCatchUp
		}
	}

	ctx, stop := w.attemptContext(ctx)
	defer stop()

	log.Info("backup started", "triggered_by", triggeredBy)
	opts.TriggeredBy, opts.Log = triggeredBy, log
	if job.Attempt < job.MaxAttempts {
		// A failure is retried: its row says when (alerts wait for the run).
		opts.RetryAfter = w.NextRetry(job).Sub(w.clock.Now())
	}
	row, err := backup.Run(ctx, opts)
	switch {
	case err == nil:
		log.Info("backup succeeded", "file", row.Filename)
		if alone {
			AfterBackup(ctx, w.store, w.cfg, w.clock, log)
			if now, err := w.store.Get(ctx, row.ID); err == nil {
				row = now // a partial backup may have been healed meanwhile
			}
		}
	case backup.NotStarted(err):
		// Nothing was attempted: no row, no attempt used.
		log.Info("backup postponed: another backup holds the lock, or the limits are reached", "reason", err.Error())
	case backup.Permanent(err):
		log.Error("backup failed; retrying cannot heal this, not retried", "file", row.Filename, "error", err)
	default:
		log.Error("backup attempt failed", "file", row.Filename, "error", err, "attempts_left", job.MaxAttempts-job.Attempt)
	}
	// Once per run (backuprun.Told): its outcome, never an attempt a retry
	// follows; a database's job in a run is told in the run's summary.
	if row = backup.Reported(row, err); alone && row.ID != "" && backuprun.Told(err, job.Attempt >= job.MaxAttempts) {
		w.Notify(context.WithoutCancel(ctx), w.backupEvent(context.WithoutCancel(ctx), row))
	}
	if err == nil {
		return nil
	}
	return outcome(err, w.cfg.RetryDelays)
}

// attemptContext is River's job context, except that once the daemon's
// grace period is over, the attempt is cancelled with ErrShutdown, a cause
// its failed row names, whichever of River or the daemon cancels first.
func (w *worker) attemptContext(riverCtx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(riverCtx))
	stopRiver := context.AfterFunc(riverCtx, func() {
		cause := context.Cause(riverCtx)
		if w.shutdown.Err() != nil { // the daemon cancels its jobs only after its grace
			cause = context.Cause(w.shutdown)
		}
		cancel(cause)
	})
	stopShutdown := context.AfterFunc(w.shutdown, func() { cancel(context.Cause(w.shutdown)) })
	return ctx, func() { stopRiver(); stopShutdown(); cancel(nil) }
}

// outcome turns a failed attempt's error into River's next step: another
// backup holding the lock postpones the job without using an attempt; a
// failure retrying cannot heal cancels it; any other is retried.
func outcome(err error, delays []time.Duration) error {
	var held *lock.HeldError
	var busy *lock.BusyError
	switch {
	case errors.As(err, &busy):
		return river.JobSnooze(busySnooze)
	case errors.As(err, &held):
		delay, _ := schedule.RetryDelay(1, delays)
		return river.JobSnooze(delay)
	case backup.Permanent(err):
		return river.JobCancel(err)
	}
	return err
}
