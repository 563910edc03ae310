package jobs

import (
	"context"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/metrics"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/plan"
)

// NotifyKind sends one notification, retried in the background: an SMTP
// outage never fails nor delays a backup.
const NotifyKind = notify.JobKind

// NotifyFor is how long a notification is retried before it is given up:
// a failure mail outlives a night-long SMTP outage, and
// RgzBackupNotificationsDelayed pages after an hour of waiting.
const NotifyFor = 24 * time.Hour

// notifyAttempts only bounds a notification that keeps failing at once;
// NotifyFor decides when it is given up (about 30 tries, whatever the
// first delay: see NotifyDelay).
const notifyAttempts = 100

// NotifyArgs carry the event to tell.
type NotifyArgs struct {
	Event notify.Event `json:"event"`
	// GiveUpAt is when retrying stops: NotifyFor after it was queued, on
	// the clock of whoever queued it (zero for jobs queued by an older
	// version: their creation time then counts).
	GiveUpAt time.Time `json:"give_up_at,omitzero"`
}

// Kind is River's name for the job.
func (NotifyArgs) Kind() string { return NotifyKind }

// InsertOpts: its own queue, so that a slow SMTP server holds back nothing.
func (NotifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: NotifyQueue, MaxAttempts: notifyAttempts}
}

// NotifyQueue is the notifications' queue.
const NotifyQueue = "rgz_notify"

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	deps
}

// NextRetry: the backups' first retry delay (30 s by default), doubling
// up to an hour, whatever the first delay: NotifyFor, not the attempts,
// decides when a notification is given up.
func (w *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	return w.clock.Now().Add(NotifyDelay(w.cfg.RetryDelays[0], job.Attempt))
}

// NotifyDelay is the wait after a notification's attempt failed: first,
// doubled at each attempt, at most an hour.
func NotifyDelay(first time.Duration, attempt int) time.Duration {
	delay := max(first, time.Second)
	for i := 1; i < attempt && delay < time.Hour; i++ {
		delay *= 2
	}
	return min(delay, time.Hour)
}

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	kind := job.Args.Event.Kind
	if why := notify.Unsent(w.cfg.Notify, kind); why != "" {
		// Queued by a CLI whose settings differ from this daemon's: the
		// daemon's decide, and the log says so.
		w.log.Warn("notification not sent: "+why+" in this daemon's settings", "event", kind)
		return nil
	}
	err := notify.Deliver(ctx, w.cfg.Notify, job.Args.Event)
	if err == nil {
		w.log.Info("notification sent", "event", kind, "attempt", job.Attempt)
		return nil
	}
	if GiveUpNotify(job.Args.GiveUpAt, job.CreatedAt, job.Attempt, job.MaxAttempts, w.clock.Now()) {
		metrics.NotificationFailures.Inc()
		w.log.Error("notification given up", "event", kind, "attempts", job.Attempt, "queued_at", job.CreatedAt, "error", err)
		return river.JobCancel(err)
	}
	w.log.Warn("notification not sent; retrying", "event", kind, "attempt", job.Attempt, "error", err)
	return err
}

// GiveUpNotify says whether a notification that failed again is given up:
// past its give-up time (its creation + NotifyFor when it has none), or out
// of attempts.
func GiveUpNotify(giveUpAt, createdAt time.Time, attempt, maxAttempts int, now time.Time) bool {
	if giveUpAt.IsZero() {
		giveUpAt = createdAt.Add(NotifyFor)
	}
	return !now.Before(giveUpAt) || attempt >= maxAttempts
}

// Notify queues an event for the notify worker (from inside a job, through
// the job's own client), when cfg wants it told.
func (w deps) Notify(ctx context.Context, e notify.Event) {
	if notify.Unsent(w.cfg.Notify, e.Kind) != "" {
		return
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	if _, err := client.Insert(ctx, NotifyArgs{Event: e, GiveUpAt: w.clock.Now().Add(NotifyFor)}, nil); err != nil {
		w.log.Error("notification not queued", "event", e.Kind, "error", err)
	}
}

// EnqueueNotify queues an event from outside a job (a CLI run whose own
// sending failed): a running daemon retries it until NotifyFor after now.
func EnqueueNotify(ctx context.Context, client *Client, e notify.Event, now time.Time) error {
	_, err := client.Insert(ctx, NotifyArgs{Event: e, GiveUpAt: now.Add(NotifyFor)}, nil)
	return err
}

// backupEvent is what to tell of a run that ended with row.
func (w deps) backupEvent(ctx context.Context, row catalog.Execution) notify.Event {
	e := notify.ForBackup(row, hostname(), w.serverOf(row.TargetName))
	if row.RunID != nil {
		if attempts, err := w.store.RunAttempts(ctx, *row.RunID); err == nil {
			e.Attempts = attempts
		}
	}
	e.NextRun = w.nextRunOf(row.TargetName)
	return e
}

// nextRunOf is the next scheduled backup of target's databases: its own
// schedule (targets file) or the environment's; zero when none is.
func (w deps) nextRunOf(target string) time.Time {
	return plan.NextOf(plan.Of(w.cfg, w.fleet, w.clock.Now()), target)
}

// serverOf is the server of target's backups, for people (HOST:PORT).
func (w deps) serverOf(target string) string {
	if w.fleet != nil {
		if s, ok := w.fleet.Server(target); ok {
			return s.Config.Database.Server()
		}
	}
	return w.cfg.Database.Server()
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
