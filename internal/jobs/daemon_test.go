package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

// daemon is the daemon's job engine in this process, on a real catalog and
// a real database, with a clock the test moves.
type daemon struct {
	t      *testing.T
	client *Client
	store  *catalog.Store
	cfg    config.Config
	clock  *clock.Manual
	events <-chan *river.Event
}

func startDaemon(t *testing.T, now time.Time) *daemon {
	t.Helper()
	ctx := context.Background()
	f := fixture.New(t, cluster, 1)
	f.Vars["POSTGRES_BACKUP_ENABLED"] = "false" // the test inserts the slots' jobs
	f.Vars["BACKUP_RESTORE_TEST_ENABLED"] = "false"
	cfg := f.Config(t)
	pool, store := fixture.OpenCatalog(t, cfg.Catalog)
	quiet := slog.New(slog.DiscardHandler)
	d := &daemon{t: t, store: store, cfg: cfg, clock: clock.At(now)}
	var err error
	d.client, err = NewClient(pool, Options{Config: cfg, Store: store, Log: quiet, RiverLog: quiet, Shutdown: ctx, Clock: d.clock})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := d.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	d.events = events
	if err := d.client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		stopCtx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		_ = d.client.StopAndCancel(stopCtx)
	})
	return d
}

// run inserts a backup job and waits for River to finish with it.
func (d *daemon) run(args BackupArgs) river.EventKind { return d.runJob(args) }

// runJob inserts any job and waits for River to finish with it.
func (d *daemon) runJob(args river.JobArgs) river.EventKind {
	d.t.Helper()
	res, err := d.client.Insert(context.Background(), args, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	timeout := time.After(60 * time.Second)
	for {
		select {
		case e := <-d.events:
			if e.Job.ID == res.Job.ID {
				return e.Kind
			}
		case <-timeout:
			d.t.Fatalf("job %d did not finish", res.Job.ID)
		}
	}
}

func (d *daemon) rows() []catalog.Execution {
	d.t.Helper()
	rows, err := d.store.List(context.Background(), catalog.Filter{})
	if err != nil {
		d.t.Fatal(err)
	}
	return rows
}

// A scheduled job decides by the daemon's clock, not the machine's: on
// time it runs and its file is named by that clock; for a slot that has a
// success it does nothing; hours late on a day without a success it runs
// as a catch-up.
func TestScheduledJobsDecideByTheDaemonsClock(t *testing.T) {
	t.Parallel()
	slot := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	d := startDaemon(t, slot.Add(10*time.Second))

	if kind := d.run(BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: uuid.NewString()}); kind != river.EventKindJobCompleted {
		t.Fatalf("on-time job: %s", kind)
	}
	rows := d.rows()
	if len(rows) != 1 || rows[0].TriggeredBy != catalog.TriggerScheduled || rows[0].Filename != "20261120_030010.dump.gz" {
		t.Fatalf("on time: %+v", rows)
	}

	d.clock.Advance(time.Hour) // a second job for the same slot, an hour later
	d.run(BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: uuid.NewString()})
	if n := len(d.rows()); n != 1 {
		t.Fatalf("a slot that has its backup took another: %d rows", n)
	}

	next := slot.AddDate(0, 0, 1)
	d.clock.Set(next.Add(6 * time.Hour)) // the next slot's job, six hours late
	d.run(BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: next, RunID: uuid.NewString()})
	rows = d.rows()
	if len(rows) != 2 || rows[0].TriggeredBy != catalog.TriggerCatchUp || rows[0].Filename != "20261121_090000.dump.gz" {
		t.Fatalf("six hours late: %+v", rows[0])
	}
	if _, err := os.Stat(filepath.Join(d.cfg.LocalDir, "20261121_090000.dump.gz")); err != nil {
		t.Fatal(err)
	}
}

// The job of a process that died, rescued by River after its run went on
// in a continuation, does nothing: no attempt, no file, no row.
func TestSupersededJobDoesNothing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	d := startDaemon(t, now)
	runID := uuid.NewString()
	for attempt, status := range map[int]catalog.Status{1: catalog.StatusFailed, 2: catalog.StatusSuccess} {
		at := now.Add(time.Duration(attempt) * time.Minute)
		row := catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: at, Filename: at.Format("20060102_150405") + ".dump.gz",
			Status: status, RestoreTestStatus: catalog.TestNotTested, TriggeredBy: catalog.TriggerManual, Attempt: attempt, RunID: &runID}
		if err := d.store.Insert(context.Background(), &row); err != nil {
			t.Fatal(err)
		}
	}
	// A job about to run the run's attempt 2, which is recorded already: so
	// does the job of a dead process look once River rescues it, after its
	// continuation took attempt 2.
	if kind := d.run(BackupArgs{TriggeredBy: catalog.TriggerManual, RunID: runID, AttemptsBefore: 1}); kind != river.EventKindJobCompleted {
		t.Fatalf("superseded job: %s", kind)
	}
	if n := len(d.rows()); n != 2 {
		t.Fatalf("a superseded job took a backup: %d rows", n)
	}
	if files, _ := filepath.Glob(filepath.Join(d.cfg.LocalDir, "*.dump.gz")); len(files) != 0 {
		t.Fatalf("a superseded job wrote %v", files)
	}
}

// The daily retention job also deletes the audit rows older than
// BACKUP_AUDIT_RETENTION_DAYS (by the daemon's clock), and no others.
func TestRetentionJobPrunesTheAudit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	d := startDaemon(t, now)
	ctx := context.Background()
	for _, age := range []int{d.cfg.API.AuditRetentionDays + 1, d.cfg.API.AuditRetentionDays - 1, 0} {
		if _, err := d.store.InsertAudit(ctx, catalog.Audit{At: now.AddDate(0, 0, -age), Subject: "admin-1", Role: "admin", Method: "POST", Path: "/x", Status: 202, Detail: fmt.Sprint(age)}); err != nil {
			t.Fatal(err)
		}
	}
	if kind := d.runJob(RetentionArgs{}); kind != river.EventKindJobCompleted {
		t.Fatalf("retention job: %s", kind)
	}
	rows, err := d.store.AuditPage(ctx, catalog.Audit{}, 10)
	if err != nil || len(rows) != 2 || rows[1].Detail != fmt.Sprint(d.cfg.API.AuditRetentionDays-1) {
		t.Fatalf("audit after the retention job: %+v %v", rows, err)
	}
}

// Every slot gets its job, from whichever replica looks, whatever the
// leadership: at the slot, a restart a few minutes after it (a crash at
// 02:59:40 once lost the night: the catch-up waited for 24 h + 5 min),
// hours after it (a catch-up), never twice, and never once the slot has
// its success.
func TestSlotKeeperGivesEverySlotItsJob(t *testing.T) {
	t.Parallel()
	slot := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	d := startDaemon(t, slot.Add(-time.Hour))
	ctx := context.Background()
	cfg := d.cfg
	daily, err := schedule.Daily(3, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ScheduleEnabled, cfg.Schedule = true, daily
	keeper := func() *SlotKeeper {
		return &SlotKeeper{Client: d.client, Store: d.store, Config: cfg, Clock: d.clock, Log: slog.New(slog.DiscardHandler)}
	}
	// Yesterday's backup succeeded.
	d.clock.Set(slot.AddDate(0, 0, -1).Add(5 * time.Second))
	if kind := d.run(BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot.AddDate(0, 0, -1), RunID: uuid.NewString()}); kind != river.EventKindJobCompleted {
		t.Fatalf("yesterday's backup: %s", kind)
	}
	jobsOf := func(at time.Time) []*rivertype.JobRow {
		res, err := d.client.JobList(ctx, river.NewJobListParams().Kinds(Kind).First(100))
		if err != nil {
			t.Fatal(err)
		}
		var out []*rivertype.JobRow
		for _, j := range res.Jobs {
			var a BackupArgs
			if json.Unmarshal(j.EncodedArgs, &a) == nil && a.Slot.Equal(at) {
				out = append(out, j)
			}
		}
		return out
	}
	// A daemon started at 03:04:40 (it crashed at 02:59:40): the slot is
	// 4 minutes 40 old, within the tolerance — its job, on time.
	d.clock.Set(slot.Add(4*time.Minute + 40*time.Second))
	got, err := keeper().Ensure(ctx, slot.Add(4*time.Minute+40*time.Second))
	if err != nil || len(got) != 1 || !got[0].Inserted || got[0].CatchUp || !got[0].At.Equal(slot) {
		t.Fatalf("a restart after the slot: %+v, %v", got, err)
	}
	// Another replica, a second later: the same slot, not twice.
	if got, _ := keeper().Ensure(ctx, slot.Add(4*time.Minute+41*time.Second)); len(got) != 1 || got[0].Inserted {
		t.Fatalf("a second replica: %+v", got)
	}
	if n := len(jobsOf(slot)); n != 1 {
		t.Fatalf("%d jobs for the slot, want 1", n)
	}
	// The job ran and succeeded: no job more for that slot, however late.
	jobs := jobsOf(slot)
	waitDone := time.After(60 * time.Second)
	for d.rows()[0].BackupDate.Before(slot) {
		select {
		case <-d.events:
		case <-waitDone:
			t.Fatalf("the slot's job did not run: %+v", jobs)
		}
	}
	if got, _ := keeper().Ensure(ctx, slot.Add(9*time.Hour)); len(got) != 1 || got[0].Inserted {
		t.Fatalf("a slot with its success: %+v", got)
	}
	// The next day nobody ran at the slot: a daemon at 09:00 catches it up.
	next := slot.AddDate(0, 0, 1)
	if got, _ := keeper().Ensure(ctx, next.Add(6*time.Hour)); len(got) != 1 || !got[0].Inserted || !got[0].CatchUp {
		t.Fatalf("a missed slot, hours later: %+v", got)
	}
	if j := jobsOf(next); len(j) != 1 {
		t.Fatalf("%d jobs for the missed slot", len(j))
	}
	// A slot whose run ended for good without a success (cancelled, as a
	// permanent failure is; discarded after its retries likewise) is not
	// run again a minute later: it waits for the next slot.
	if err := d.client.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	third := next.AddDate(0, 0, 1)
	if got, _ := keeper().Ensure(ctx, third.Add(time.Second)); len(got) != 1 || !got[0].Inserted {
		t.Fatalf("the third slot: %+v", got)
	}
	if _, err := d.client.JobCancel(ctx, jobsOf(third)[0].ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := keeper().Ensure(ctx, third.Add(time.Minute)); len(got) != 1 || got[0].Inserted {
		t.Fatalf("a slot whose run was cancelled, a minute later: %+v", got)
	}
	if j := jobsOf(third); len(j) != 1 || j[0].State != rivertype.JobStateCancelled {
		t.Fatalf("the cancelled slot's jobs: %+v", j)
	}
}
