package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/recovery"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Recover cleans up after a daemon that died mid-backup, at start: when no
// backup runs anywhere (the backup lock is free), it removes temporary
// files and records abandoned attempts (recovery.Abandoned), and each
// abandoned attempt's run goes on. River's tables are River's: the job of
// a dead process stays "running" until River's rescuer moves it (long
// after: the backup timeout, the grace and a margin), so the run continues
// in a new job that takes over its remaining attempts after the usual
// retry delay; the old job, once rescued, finds the run moved on and does
// nothing (Superseded). When a backup holds the lock, it is alive, and
// there is nothing to recover now; that backup's own start recovers any
// other. client may be one not started yet.
func Recover(ctx context.Context, client *Client, store *catalog.Store, cfg config.Config, clk clock.Clock, log *slog.Logger) error {
	if err := recoverAbandoned(ctx, client, store, cfg, clk, log); err != nil {
		return err
	}
	return continueUnbegun(ctx, client, store, cfg, clk, log)
}

// recoverAbandoned is Recover's part for attempts that began: their rows.
func recoverAbandoned(ctx context.Context, client *Client, store *catalog.Store, cfg config.Config, clk clock.Clock, log *slog.Logger) error {
	release, err := lock.Both(ctx, cfg.LocalDir, cfg.Catalog)
	var held *lock.HeldError
	if errors.As(err, &held) {
		log.Info("a backup is running: no recovery needed now", "holder", held.Holder)
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	var abandoned []catalog.Attempt
	if !cfg.Several() {
		if abandoned, err = recovery.Abandoned(ctx, store, cfg.LocalDir, recovery.Everything, clk.Now(), log); err != nil {
			return err
		}
	} else {
		// With several databases, each database's attempts in its own
		// directory; the service's lock, held alone, says none is alive.
		attempts, err := store.Attempts(ctx)
		if err != nil {
			return err
		}
		seen := map[recovery.Scope]bool{}
		for _, a := range attempts {
			scope := recovery.Scope{Target: a.Execution.TargetName, Database: deref(a.Execution.DatabaseName)}
			if seen[scope] || scope.Database == "" {
				continue
			}
			seen[scope] = true
			dir, err := targets.Dir(cfg, scope.Target, scope.Database)
			if err != nil {
				log.Warn("an attempt names a database no folder can hold: left alone", "error", err)
				continue
			}
			some, err := recovery.Abandoned(ctx, store, dir, scope, clk.Now(), log)
			if err != nil {
				return err
			}
			abandoned = append(abandoned, some...)
		}
	}
	for _, a := range abandoned {
		if a.JobID == 0 {
			continue // a CLI run: no job to continue
		}
		job, err := client.JobGet(ctx, a.JobID)
		if errors.Is(err, river.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("look up job %d: %w", a.JobID, err)
		}
		next, opts, why := Continuation(job, a.Execution.Attempt, cfg.RetryDelays, clk.Now())
		if next == nil {
			if retrying(job.State) {
				// River moved the job and runs it again itself: the run
				// goes on, its abandoned row is no failed run.
				if err := store.SetRetryAt(ctx, a.Execution.ID, job.ScheduledAt); err != nil {
					return err
				}
			}
			log.Warn("the abandoned attempt's run does not continue here", "job_id", a.JobID, "attempt", a.Execution.Attempt, "reason", why)
			continue
		}
		res, err := client.Insert(ctx, *next, opts)
		if err != nil {
			return fmt.Errorf("continue the run of job %d: %w", a.JobID, err)
		}
		if err := store.SetRetryAt(ctx, a.Execution.ID, opts.ScheduledAt); err != nil {
			return err
		}
		log.Warn("the abandoned attempt's run continues in a new job", "job_id", a.JobID, "new_job_id", res.Job.ID,
			"attempt", a.Execution.Attempt, "next_attempt", next.AttemptsBefore+1, "at", opts.ScheduledAt)
	}
	return nil
}

// continueUnbegun goes on with the runs of backup jobs whose process died
// after River gave them the job and before their attempt began: no row
// says anything of them, so recovery.Abandoned cannot see them, and River
// would rescue them only hours later — a slot's backup lost for the
// night. A job is known dead when the client that runs it was a process
// of this host that is gone (River's client ID is HOST-PID-START); a job
// of another host is left to River's rescuer. The dead job is cancelled
// once its successor is queued, so that River's rescuer does not run it
// again. A manual job that starts a run over several databases is left to
// the rescuer too: it may have queued its databases' jobs already, and
// only a slot's are unique.
func continueUnbegun(ctx context.Context, client *Client, store *catalog.Store, cfg config.Config, clk clock.Clock, log *slog.Logger) error {
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(Kind).States(rivertype.JobStateRunning).First(1000))
	if err != nil {
		return fmt.Errorf("list running backup jobs: %w", err)
	}
	host, _ := os.Hostname()
	var inProgress []catalog.Attempt // attempts that began and have no row yet
	for _, job := range res.Jobs {
		if !diedHere(job, host, processAlive) {
			continue
		}
		var args BackupArgs
		if err := json.Unmarshal(job.EncodedArgs, &args); err != nil {
			continue
		}
		if cfg.Several() && args.Database == "" && args.Slot.IsZero() {
			log.Info("a manual run over several databases whose process died is left to River's rescuer", "job_id", job.ID)
			continue
		}
		recorded, err := store.RunAttempts(ctx, args.RunID)
		if err != nil {
			return err
		}
		if inProgress == nil {
			if inProgress, err = store.Attempts(ctx); err != nil {
				return err
			}
		}
		for _, a := range inProgress {
			if a.Execution.RunID != nil && *a.Execution.RunID == args.RunID {
				recorded = append(recorded, a.Execution)
			}
		}
		next, opts, why := Unbegun(job, recorded, clk.Now())
		if next == nil {
			log.Info("a running backup job of a dead process is left to its own recovery", "job_id", job.ID, "reason", why)
			continue
		}
		added, err := client.Insert(ctx, *next, opts)
		if err != nil {
			return fmt.Errorf("continue the run of job %d: %w", job.ID, err)
		}
		if _, err := client.JobCancel(ctx, job.ID); err != nil {
			log.Warn("the dead job could not be cancelled: River's rescuer will find its run gone on", "job_id", job.ID, "error", err)
		}
		log.Warn("a backup job whose process died before its attempt began runs again in a new job",
			"job_id", job.ID, "new_job_id", added.Job.ID, "attempt", next.AttemptsBefore+1)
	}
	return nil
}

// diedHere says whether the process River gave job to last was one of
// this host (its client ID is HOST-PID-START) that alive says is gone.
func diedHere(job *rivertype.JobRow, host string, alive func(pid int) bool) bool {
	if len(job.AttemptedBy) == 0 {
		return false
	}
	id := job.AttemptedBy[len(job.AttemptedBy)-1]
	parts := strings.Split(id, "-")
	if len(parts) < 3 {
		return false
	}
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil || strings.Join(parts[:len(parts)-2], "-") != host {
		return false
	}
	return pid != os.Getpid() && !alive(pid)
}

// processAlive says whether a process of this host has pid (one of
// another user's counts: it exists).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Unbegun decides how the run of a job goes on when its process died
// before the job's attempt began: the same attempt, in a new job, at once
// (nothing ran, nothing to wait for). It returns nil and why when the job
// is not such a job: River moved it, or a row of its run shows its attempt
// began (then recovery.Abandoned and Continuation see to it).
func Unbegun(job *rivertype.JobRow, recorded []catalog.Execution, now time.Time) (*BackupArgs, *river.InsertOpts, string) {
	var args BackupArgs
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil {
		return nil, nil, fmt.Sprintf("job %d's arguments: %v", job.ID, err)
	}
	attempt := args.AttemptsBefore + job.Attempt
	switch {
	case job.State != rivertype.JobStateRunning:
		return nil, nil, fmt.Sprintf("River already moved job %d (%s)", job.ID, job.State)
	case Superseded(attempt, recorded):
		return nil, nil, fmt.Sprintf("attempt %d of job %d began", attempt, job.ID)
	}
	next, opts := resumed(args, job.ID, attempt-1, now)
	return next, opts, ""
}

// resumed is the job that takes over the run of job jobID (args), its
// attempts numbered after attemptsBefore, from at: one database's run goes
// on as that database's, and no run has more attempts in all than
// schedule.MaxAttempts.
func resumed(args BackupArgs, jobID int64, attemptsBefore int, at time.Time) (*BackupArgs, *river.InsertOpts) {
	next := BackupArgs{TriggeredBy: args.TriggeredBy, Slot: args.Slot, RunID: args.RunID, Resumes: jobID, AttemptsBefore: attemptsBefore,
		Target: args.Target, Database: args.Database, Batch: args.Batch}
	return &next, &river.InsertOpts{ScheduledAt: at, MaxAttempts: schedule.MaxAttempts - attemptsBefore,
		UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// retrying says whether River will run a job in state again.
func retrying(state rivertype.JobState) bool {
	return state == rivertype.JobStateRetryable || state == rivertype.JobStateAvailable || state == rivertype.JobStateScheduled
}

// Continuation decides how the run of a job whose process died while it
// ran attempt (numbered across the run) goes on: a new job for the same
// run, its attempts numbered after attempt, after the retry delay, and no
// more attempts in all than a run has. It returns nil and why when the run
// stops there: the job is no longer running in River's eyes (River moved
// it, and will retry it itself), it is running another attempt, or the
// run has no attempt left.
func Continuation(job *rivertype.JobRow, attempt int, delays []time.Duration, now time.Time) (*BackupArgs, *river.InsertOpts, string) {
	var args BackupArgs
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil {
		return nil, nil, fmt.Sprintf("job %d's arguments: %v", job.ID, err)
	}
	switch {
	case job.State != rivertype.JobStateRunning:
		return nil, nil, fmt.Sprintf("River already moved job %d (%s)", job.ID, job.State)
	case args.AttemptsBefore+job.Attempt != attempt:
		return nil, nil, fmt.Sprintf("job %d runs attempt %d, not %d", job.ID, args.AttemptsBefore+job.Attempt, attempt)
	case attempt >= schedule.MaxAttempts:
		return nil, nil, fmt.Sprintf("no attempt left after %d", attempt)
	}
	delay, _ := schedule.RetryDelay(attempt, delays)
	next, opts := resumed(args, job.ID, attempt, now.Add(delay))
	return next, opts, ""
}

// Superseded says whether a job about to run attempt (numbered across its
// run) must do nothing because its run has moved on without it: an attempt
// numbered as high is already recorded. That is the job of a dead process,
// rescued by River after a continuation took its run over.
func Superseded(attempt int, recorded []catalog.Execution) bool {
	for _, r := range recorded {
		if r.Attempt >= attempt {
			return true
		}
	}
	return false
}
