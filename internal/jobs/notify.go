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
)

// NotifyKind sends one notification, retried in the background: an SMTP
// outage never fails nor delays a backup.
const NotifyKind = "rgz.backup.notify"

// notifyAttempts: about a day of retries at the capped delay.
const notifyAttempts = 12

// NotifyArgs carry the event to tell.
type NotifyArgs struct {
	Event notify.Event `json:"event"`
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
// up to an hour.
func (w *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	delay := w.cfg.RetryDelays[0] << min(job.Attempt-1, 7)
	return w.clock.Now().Add(min(delay, time.Hour))
}

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	err := notify.Deliver(ctx, w.cfg.Notify, job.Args.Event)
	if err == nil {
		w.log.Info("notification sent", "event", job.Args.Event.Kind, "attempt", job.Attempt)
		return nil
	}
	if job.Attempt >= job.MaxAttempts {
		metrics.NotificationFailures.Inc()
		w.log.Error("notification given up", "event", job.Args.Event.Kind, "attempts", job.Attempt, "error", err)
	} else {
		w.log.Warn("notification not sent; retrying", "event", job.Args.Event.Kind, "attempt", job.Attempt, "error", err)
	}
	return err
}

// Notify queues an event for the notify worker (from inside a job, through
// the job's own client), when cfg wants it told.
func (w deps) Notify(ctx context.Context, e notify.Event) {
	if !notify.Wanted(w.cfg.Notify, e.Kind) || (w.cfg.Notify.SMTP.Host == "" && w.cfg.Notify.WebhookURL == "") {
		return
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	if _, err := client.Insert(ctx, NotifyArgs{Event: e}, nil); err != nil {
		w.log.Error("notification not queued", "event", e.Kind, "error", err)
	}
}

// EnqueueNotify queues an event from outside a job (a CLI run whose own
// sending failed): a running daemon retries it.
func EnqueueNotify(ctx context.Context, client *Client, e notify.Event) error {
	_, err := client.Insert(ctx, NotifyArgs{Event: e}, nil)
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
	if w.cfg.ScheduleEnabled {
		e.NextRun = w.cfg.Schedule.Next(w.clock.Now())
	}
	return e
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
