package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/targets"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
)

func TestOutcome(t *testing.T) {
	t.Parallel()
	failed := errors.New("pg_dump exited 1")
	cases := []struct {
		name string
		err  error
		want string // snooze, cancel, retry
	}{
		{"another backup holds the lock", fmt.Errorf("x: %w", &lock.HeldError{Holder: "pid 1"}), "snooze"},
		{"pg_dump older than the server", fmt.Errorf("snapshot: %w", backup.ErrClientTooOld), "cancel"},
		{"bad configuration", &config.Error{Var: "BACKUP_LOCAL_DIR"}, "cancel"},
		{"any other failure", failed, "retry"},
		{"timeout", fmt.Errorf("timeout after 600s: %w", failed), "retry"},
		{"shutdown", fmt.Errorf("%w: %w", ErrShutdown, failed), "retry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := outcome(c.err, []time.Duration{15 * time.Second, 30 * time.Second, time.Minute})
			var snooze *river.JobSnoozeError
			var cancel *river.JobCancelError
			kind := "retry"
			switch {
			case errors.As(got, &snooze):
				kind = "snooze"
				if snooze.Duration != 15*time.Second {
					t.Errorf("snoozed %s, want the first retry delay", snooze.Duration)
				}
			case errors.As(got, &cancel):
				kind = "cancel"
			}
			if kind != c.want || (kind == "retry" && got != c.err) {
				t.Fatalf("%v → %v (%s), want %s", c.err, got, kind, c.want)
			}
		})
	}
}

func TestContinuation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 2, 5, 3, 0, 40, 0, time.UTC)
	delays := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute}
	job := func(state rivertype.JobState, riverAttempt int, args BackupArgs) *rivertype.JobRow {
		b, _ := json.Marshal(args)
		return &rivertype.JobRow{ID: 7, State: state, Attempt: riverAttempt, EncodedArgs: b}
	}
	slot := time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC)
	scheduled := BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: "run-1"}
	cases := []struct {
		name      string
		job       *rivertype.JobRow
		attempt   int
		wantNext  *BackupArgs
		wantAt    time.Time
		wantLeft  int
		wantWhyIn string
	}{
		{"first attempt died", job(rivertype.JobStateRunning, 1, scheduled), 1,
			&BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: "run-1", Resumes: 7, AttemptsBefore: 1}, now.Add(30 * time.Second), 3, ""},
		{"a continuation's attempt died", job(rivertype.JobStateRunning, 1, BackupArgs{TriggeredBy: catalog.TriggerManual, RunID: "run-2", Resumes: 3, AttemptsBefore: 2}), 3,
			&BackupArgs{TriggeredBy: catalog.TriggerManual, RunID: "run-2", Resumes: 7, AttemptsBefore: 3}, now.Add(2 * time.Minute), 1, ""},
		// One database of several: its run goes on as that database's, not
		// as a new run over them all.
		{"one database's attempt died", job(rivertype.JobStateRunning, 1, BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: "run-3",
			Target: "site-b", Database: "radius", Batch: "b-1"}), 1,
			&BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: "run-3", Resumes: 7, AttemptsBefore: 1, Target: "site-b", Database: "radius", Batch: "b-1"},
			now.Add(30 * time.Second), 3, ""},
		{"the last attempt died", job(rivertype.JobStateRunning, 4, scheduled), 4, nil, time.Time{}, 0, "no attempt left"},
		{"River already rescued it", job(rivertype.JobStateRetryable, 1, scheduled), 1, nil, time.Time{}, 0, "already moved"},
		{"it runs another attempt now", job(rivertype.JobStateRunning, 2, scheduled), 1, nil, time.Time{}, 0, "runs attempt 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, opts, why := Continuation(c.job, c.attempt, delays, now)
			if c.wantNext == nil {
				if next != nil || !strings.Contains(why, c.wantWhyIn) {
					t.Fatalf("got %+v (%q), want none because %q", next, why, c.wantWhyIn)
				}
				return
			}
			if next == nil || *next != *c.wantNext || !opts.ScheduledAt.Equal(c.wantAt) || opts.MaxAttempts != c.wantLeft || !opts.UniqueOpts.ByArgs {
				t.Fatalf("got %+v %+v (%q), want %+v at %s with %d attempts", next, opts, why, c.wantNext, c.wantAt, c.wantLeft)
			}
		})
	}
}

func TestSuperseded(t *testing.T) {
	t.Parallel()
	recorded := []catalog.Execution{{Attempt: 1}, {Attempt: 2}}
	for attempt, want := range map[int]bool{1: true, 2: true, 3: false} {
		if got := Superseded(attempt, recorded); got != want {
			t.Errorf("attempt %d with attempts 1 and 2 recorded: superseded %v, want %v", attempt, got, want)
		}
	}
	if Superseded(1, nil) {
		t.Error("a run with nothing recorded is superseded")
	}
}

// Targets with restore-test schedules of their own get periodic restore
// tests of their own, named by target (so a reload can replace them).
func TestTargetPeriodics(t *testing.T) {
	t.Parallel()
	servers := []targets.Server{{Target: "default"}, {Target: "site-b", Schedule: "0 4 * * *", RestoreTestSchedule: "0 6 * * 0"}, {Target: "site-c", RestoreTestSchedule: "0 7 * * 0"}}
	if got := len(targetRestoreTests(servers)); got != 2 {
		t.Fatalf("%d restore-test schedules of their own, want 2", got)
	}
}

// River accepts the periodic jobs of every target a targets file can name
// (the longest name included): an id it refused made `serve` panic at
// start and on SIGHUP. A reload whose schedules River refuses returns an
// error and puts the old schedules back.
func TestTargetSchedulesAreAcceptedAndReloadsNeverPanic(t *testing.T) {
	t.Parallel()
	f := fixture.New(t, cluster, 0)
	cfg := f.Config(t)
	cfg.ScheduleEnabled, cfg.RestoreTest.Enabled = true, true
	pool, store := fixture.OpenCatalog(t, cfg.Catalog)
	quiet := slog.New(slog.DiscardHandler)
	client, err := NewClient(pool, Options{Config: cfg, Store: store, Log: quiet, RiverLog: quiet, Shutdown: context.Background(), Clock: clock.Real})
	if err != nil {
		t.Fatal(err)
	}
	longest := strings.Repeat("z", 63)
	before := []targets.Server{{Target: "billing", Schedule: "0 4 * * *", RestoreTestSchedule: "0 6 * * 0"}}
	after := []targets.Server{{Target: "site-b_2", Schedule: "*/20 * * * * *"}, {Target: longest, Schedule: "0 4 * * *", RestoreTestSchedule: "0 6 * * 0"}}
	if _, err := client.PeriodicJobs().AddManySafely(OwnPeriodics(cfg, before)); err != nil {
		t.Fatalf("the schedules of the docs' example: %v", err)
	}
	if err := Reschedule(client, cfg, before, after); err != nil {
		t.Fatalf("a reload to valid targets: %v", err)
	}
	if !client.PeriodicJobs().RemoveByID(PeriodicID(RestoreTestKind, longest)) {
		t.Fatalf("%s not scheduled", PeriodicID(RestoreTestKind, longest))
	}
	client.PeriodicJobs().AddManySafely(OwnPeriodics(cfg, after))
	bad := []targets.Server{{Target: "no@such name", RestoreTestSchedule: "0 4 * * *"}}
	if err := Reschedule(client, cfg, after, bad); err == nil {
		t.Fatal("River's refusal was not returned")
	}
	if !client.PeriodicJobs().RemoveByID(PeriodicID(RestoreTestKind, longest)) {
		t.Fatal("the old schedules were not put back")
	}
}

// The hourly healing of missing copies is scheduled whenever backups have
// copies, wherever they go: it was S3 only, and a copy that failed to a
// directory, SFTP or Azure never healed by itself.
func TestHealingScheduledWheneverThereAreCopies(t *testing.T) {
	t.Parallel()
	file, _ := destination.ParseURL("file:///mnt/nas/rgz")
	sftp, _ := destination.ParseURL("sftp://rgz@site-b/srv/rgz")
	for _, c := range []struct {
		name string
		cfg  config.Config
		want bool
	}{
		{"no copies", config.Config{}, false},
		{"S3", config.Config{S3: config.S3{Enabled: true}}, true},
		{"a directory", config.Config{Destinations: config.Destinations{List: []destination.Spec{file}}}, true},
		{"a target's own SFTP", config.Config{TargetDestinations: map[string][]destination.Spec{"site-b": {sftp}}}, true},
		{"a target with none", config.Config{TargetDestinations: map[string][]destination.Spec{"site-b": {}}}, false},
	} {
		want := 1 // retention
		if c.want {
			want = 2 // and the healing
		}
		if got := len(maintenancePeriodics(c.cfg)); Copies(c.cfg) != c.want || got != want {
			t.Errorf("%s: %d periodic jobs, want %d", c.name, got, want)
		}
	}
}

// A job whose process died before its attempt began runs that attempt
// again at once, in a new job; one whose attempt began is Continuation's.
func TestUnbegun(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 2, 5, 3, 0, 0, 500_000_000, time.UTC)
	slot := time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC)
	job := func(state rivertype.JobState, riverAttempt int, args BackupArgs) *rivertype.JobRow {
		b, _ := json.Marshal(args)
		return &rivertype.JobRow{ID: 9, State: state, Attempt: riverAttempt, EncodedArgs: b}
	}
	scheduled := BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: "run-1"}
	row := func(attempt int) catalog.Execution { return catalog.Execution{Attempt: attempt} }
	cases := []struct {
		name      string
		job       *rivertype.JobRow
		recorded  []catalog.Execution
		wantNext  *BackupArgs
		wantLeft  int
		wantWhyIn string
	}{
		{"the slot's first attempt never began", job(rivertype.JobStateRunning, 1, scheduled), nil,
			&BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: "run-1", Resumes: 9, AttemptsBefore: 0}, 4, ""},
		{"a retry that never began, after a failed attempt", job(rivertype.JobStateRunning, 2, scheduled), []catalog.Execution{row(1)},
			&BackupArgs{TriggeredBy: catalog.TriggerScheduled, Slot: slot, RunID: "run-1", Resumes: 9, AttemptsBefore: 1}, 3, ""},
		{"its attempt began", job(rivertype.JobStateRunning, 1, scheduled), []catalog.Execution{row(1)}, nil, 0, "attempt 1 of job 9 began"},
		{"River moved it", job(rivertype.JobStateRetryable, 1, scheduled), nil, nil, 0, "already moved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, opts, why := Unbegun(c.job, c.recorded, now)
			if c.wantNext == nil {
				if next != nil || !strings.Contains(why, c.wantWhyIn) {
					t.Fatalf("got %+v (%q), want none because %q", next, why, c.wantWhyIn)
				}
				return
			}
			if next == nil || *next != *c.wantNext || !opts.ScheduledAt.Equal(now) || opts.MaxAttempts != c.wantLeft || !opts.UniqueOpts.ByArgs {
				t.Fatalf("got %+v %+v (%q), want %+v at once with %d attempts", next, opts, why, c.wantNext, c.wantLeft)
			}
		})
	}
}

func TestDiedHere(t *testing.T) {
	t.Parallel()
	alive := func(pid int) bool { return pid == 100 }
	for _, c := range []struct {
		attemptedBy []string
		want        bool
	}{
		{[]string{"db-host-1-4242-1770000000"}, true},                           // a dashed host name
		{[]string{"db-host-1-100-1770000000"}, false},                           // alive
		{[]string{"other-4242-1770000000"}, false},                              // another host's
		{[]string{"db-host-1-4242-1770000000", "other-4242-1770000001"}, false}, // the last runner counts
		{[]string{"01HZZZULIDFROMSOMEWHEREELSE"}, false},                        // not our form
		{nil, false}, // never given out
		{[]string{fmt.Sprintf("db-host-1-%d-1770000000", os.Getpid())}, false}, // us
	} {
		job := &rivertype.JobRow{AttemptedBy: c.attemptedBy}
		if got := diedHere(job, "db-host-1", alive); got != c.want {
			t.Errorf("%v: %t, want %t", c.attemptedBy, got, c.want)
		}
	}
}
