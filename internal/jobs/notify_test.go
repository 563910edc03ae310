package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/metrics"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/testenv/mailtest"
)

func TestGiveUpNotify(t *testing.T) {
	queued := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name         string
		giveUpAt     time.Time
		attempt, max int
		now          time.Time
		giveUp       bool
	}{
		{"an hour into an outage", queued.Add(NotifyFor), 8, notifyAttempts, queued.Add(time.Hour), false},
		{"23 h 59 into an outage", queued.Add(NotifyFor), 30, notifyAttempts, queued.Add(NotifyFor - time.Minute), false},
		{"a day into an outage", queued.Add(NotifyFor), 31, notifyAttempts, queued.Add(NotifyFor), true},
		{"queued by an older version, a day old", time.Time{}, 31, notifyAttempts, queued.Add(NotifyFor + time.Second), true},
		{"queued by an older version, an hour old", time.Time{}, 8, 12, queued.Add(time.Hour), false},
		{"out of attempts", queued.Add(NotifyFor), notifyAttempts, notifyAttempts, queued.Add(time.Hour), true},
	} {
		if got := GiveUpNotify(c.giveUpAt, queued, c.attempt, c.max, c.now); got != c.giveUp {
			t.Errorf("%s: give up %v, want %v", c.name, got, c.giveUp)
		}
	}
	// The retries reach the give-up time well before the attempts run out,
	// whatever the first delay (BACKUP_RETRY_DELAYS' first).
	for _, first := range []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, time.Hour} {
		at, attempt := queued, 1
		for ; at.Before(queued.Add(NotifyFor)); attempt++ {
			at = at.Add(NotifyDelay(first, attempt))
		}
		if attempt >= notifyAttempts/2 {
			t.Errorf("first delay %s: %d attempts to cover %s; the attempts, not the time, would decide", first, attempt, NotifyFor)
		}
	}
}

// A notification is retried through an SMTP outage of a day less a
// minute, given up (cancelled, counted, logged) once a day has passed, and
// sent when the server is back; a daemon whose settings do not want it
// says so instead of "sent".
func TestNotifyWorkerOnTheClock(t *testing.T) {
	ctx := context.Background()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := listener.Addr().(*net.TCPAddr).Port
	listener.Close()

	queued := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	manual := clock.At(queued)
	var logs bytes.Buffer
	cfg := config.Config{RetryDelays: []time.Duration{30 * time.Second}, Notify: config.Notify{
		OnSuccess: true, OnFailure: true, Language: "en", Recipients: []string{"noc@mosaique.example"},
		SMTP: config.SMTP{Host: "127.0.0.1", Port: closedPort, TLS: "none", From: "rgz-backup@mosaique.example"}}}
	w := &notifyWorker{deps: deps{cfg: cfg, clock: manual, log: slog.New(slog.NewTextHandler(&logs, nil))}}
	job := &river.Job[NotifyArgs]{
		JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: notifyAttempts, CreatedAt: queued},
		Args:   NotifyArgs{Event: notify.Event{Kind: notify.BackupFailed, Host: "h"}, GiveUpAt: queued.Add(NotifyFor)},
	}
	var cancel *rivertype.JobCancelError
	failuresBefore := testutil.ToFloat64(metrics.NotificationFailures)

	manual.Set(queued.Add(NotifyFor - time.Minute))
	job.Attempt = 30
	if err := w.Work(ctx, job); err == nil || errors.As(err, &cancel) {
		t.Fatalf("23 h 59 into the outage: %v, want a retry", err)
	}
	if testutil.ToFloat64(metrics.NotificationFailures) != failuresBefore || !strings.Contains(logs.String(), "notification not sent; retrying") {
		t.Fatalf("a retry counted as given up, or not logged:\n%s", logs.String())
	}

	manual.Set(queued.Add(NotifyFor))
	job.Attempt = 31
	if err := w.Work(ctx, job); !errors.As(err, &cancel) {
		t.Fatalf("a day into the outage: %v, want the job cancelled", err)
	}
	if testutil.ToFloat64(metrics.NotificationFailures) != failuresBefore+1 || !strings.Contains(logs.String(), "notification given up") {
		t.Fatalf("a notification given up, not counted or not logged:\n%s", logs.String())
	}

	srv, err := mailtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	w.cfg.Notify.SMTP.Host, w.cfg.Notify.SMTP.Port = srv.SMTPHost, srv.SMTPPort
	manual.Set(queued.Add(10 * time.Hour))
	if err := w.Work(ctx, job); err != nil {
		t.Fatalf("the server is back: %v", err)
	}
	if mails, _ := srv.Messages(); len(mails) != 1 || !strings.HasPrefix(mails[0].Subject, "Backup FAILED") {
		t.Fatalf("mails: %+v", mails)
	}

	logs.Reset()
	w.cfg.Notify.OnSuccess = false
	job.Args.Event.Kind = notify.BackupSuccess
	if err := w.Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	if mails, _ := srv.Messages(); len(mails) != 1 || strings.Contains(logs.String(), "notification sent") ||
		!strings.Contains(logs.String(), "notification not sent: BACKUP_NOTIFY_ON_SUCCESS is false in this daemon's settings") {
		t.Fatalf("a success mail this daemon does not want: %d mails, logs:\n%s", len(mails), logs.String())
	}
}
