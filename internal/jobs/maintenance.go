package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/offsite"
	"github.com/mosaique/rgz-backup/internal/retention"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// RetentionKind is the daily retention job (it also runs after each backup).
const RetentionKind = "rgz.backup.retention"

// RetentionSchedule is when the daily retention job runs: noon UTC, far
// from the night's backup. Retention also runs right after every backup.
const RetentionSchedule = "0 12 * * *"

// RetentionArgs are the daily retention job's (no) arguments.
type RetentionArgs struct{}

// Kind is River's name for the job.
func (RetentionArgs) Kind() string { return RetentionKind }

// InsertOpts puts retention on our queue, so it never runs beside a backup
// on the same replica, and keeps one waiting job at most.
func (RetentionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 3, UniqueOpts: oneLive()}
}

// oneLive makes a job kind unique among the jobs waiting or running: one at
// a time across every replica.
func oneLive() river.UniqueOpts {
	return river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
		rivertype.JobStateScheduled, rivertype.JobStateRunning, rivertype.JobStateRetryable}}
}

// deps are what the maintenance workers need.
type deps struct {
	cfg   config.Config
	store *catalog.Store
	log   *slog.Logger
	clock clock.Clock
	fleet *targets.Fleet // with several databases
}

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	deps
}

func (w *retentionWorker) Work(ctx context.Context, job *river.Job[RetentionArgs]) error {
	log := w.log.With("job_id", job.ID, "job", RetentionKind)
	w.pruneAudit(ctx, log) // whatever becomes of the backups' retention
	report, err := retention.Run(ctx, w.store, retention.Options{Config: w.cfg, Log: log, Clock: w.clock})
	var held *lock.HeldError
	switch {
	case errors.As(err, &held):
		log.Info("retention postponed: a backup holds the lock", "holder", err.Error())
		return river.JobSnooze(time.Minute)
	case errors.Is(err, retention.ErrRefused):
		// Retrying would refuse again: a person must look (the clock?).
		log.Error("retention refused; nothing deleted", "reason", report.Local.Refused)
		return river.JobCancel(err)
	case err != nil:
		log.Error("retention failed", "error", err)
		return err
	}
	log.Info("retention done", "deleted", len(report.Deleted), "kept_by_safety_rules", len(report.Local.Decisions)-len(report.Deleted))
	if len(report.Unknown) > 0 {
		log.Warn("files in the backup directory that the catalog does not know (left alone)", "files", report.Unknown)
	}
	return nil
}

// pruneAudit deletes the audit rows older than BACKUP_AUDIT_RETENTION_DAYS.
func (w *retentionWorker) pruneAudit(ctx context.Context, log *slog.Logger) {
	before := w.clock.Now().AddDate(0, 0, -w.cfg.API.AuditRetentionDays)
	n, err := w.store.PruneAudit(ctx, before)
	switch {
	case err != nil:
		log.Warn("audit rows older than BACKUP_AUDIT_RETENTION_DAYS not pruned", "error", err)
	case n > 0:
		log.Info("audit rows pruned", "rows", n, "older_than", before.UTC().Format(time.DateOnly))
	}
}

// AfterBackup is what follows a good backup, in the daemon and in the CLI:
// the S3 copies still missing, then retention. What goes wrong is logged,
// not returned: the backup itself is good, and the daemon's hourly and
// daily jobs try again.
func AfterBackup(ctx context.Context, store *catalog.Store, cfg config.Config, clk clock.Clock, log *slog.Logger) {
	if _, err := offsite.ArchivePartials(ctx, store, cfg, log); err != nil {
		log.Warn("S3 archive of earlier partial backups", "error", err)
	}
	report, err := retention.Run(ctx, store, retention.Options{Config: cfg, Log: log, Clock: clk})
	switch {
	case err != nil:
		log.Error("retention after the backup did not complete", "error", err)
	case len(report.Deleted) > 0:
		log.Info("retention after the backup", "deleted", len(report.Deleted))
	}
	if len(report.Unknown) > 0 && err == nil {
		log.Warn("files in the backup directory that the catalog does not know (left alone)", "files", report.Unknown)
	}
}

// retentionPeriodic is the daily retention job.
func retentionPeriodic() *river.PeriodicJob {
	daily, _ := schedule.Parse(RetentionSchedule)
	return river.NewPeriodicJob(daily, func() (river.JobArgs, *river.InsertOpts) {
		return RetentionArgs{}, nil
	}, &river.PeriodicJobOpts{ID: RetentionKind})
}

// ArchiveKind is the hourly job that makes the missing copies of partial
// backups again, wherever they go.
const ArchiveKind = "rgz.backup.archive"

// ArchiveSchedule is hourly, at a minute of its own.
const ArchiveSchedule = "17 * * * *"

// ArchiveArgs are the archive job's (no) arguments.
type ArchiveArgs struct{}

// Kind is River's name for the job.
func (ArchiveArgs) Kind() string { return ArchiveKind }

// InsertOpts: our queue, one waiting job at most.
func (ArchiveArgs) InsertOpts() river.InsertOpts { return RetentionArgs{}.InsertOpts() }

type archiveWorker struct {
	river.WorkerDefaults[ArchiveArgs]
	deps
}

func (w *archiveWorker) Work(ctx context.Context, job *river.Job[ArchiveArgs]) error {
	log := w.log.With("job_id", job.ID, "job", ArchiveKind)
	rows, err := offsite.ArchivePartials(ctx, w.store, w.cfg, log)
	if err != nil {
		// The next hour tries again; retrying sooner would not help an outage.
		log.Warn("partial backups still lack a copy", "error", err)
		return nil
	}
	if len(rows) > 0 {
		log.Info("partial backups archived to S3", "count", len(rows))
	}
	return nil
}

// maintenancePeriodics are the daily retention and, whenever backups have
// copies (S3, BACKUP_DESTINATIONS, a target's own), the hourly healing of
// the missing ones.
func maintenancePeriodics(cfg config.Config) []*river.PeriodicJob {
	jobs := []*river.PeriodicJob{retentionPeriodic()}
	if Copies(cfg) {
		hourly, _ := schedule.Parse(ArchiveSchedule)
		jobs = append(jobs, river.NewPeriodicJob(hourly, func() (river.JobArgs, *river.InsertOpts) {
			return ArchiveArgs{}, nil
		}, &river.PeriodicJobOpts{ID: ArchiveKind}))
	}
	return jobs
}

// Copies says whether backups are copied anywhere: to S3, to
// BACKUP_DESTINATIONS, or to a target's own destinations.
func Copies(cfg config.Config) bool {
	if len(cfg.AllDestinations()) > 0 {
		return true
	}
	for _, specs := range cfg.TargetDestinations {
		if len(specs) > 0 {
			return true
		}
	}
	return false
}
