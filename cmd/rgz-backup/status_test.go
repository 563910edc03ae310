package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/status"
)

// status tells what the running daemon schedules, not what the caller's
// environment says: from a shell whose environment says 03:00 while the
// daemon runs every 20 s, it shows the 20 s; with no daemon it says that
// nothing runs by itself; a daemon that schedules nothing shows no next
// run. Each attempt in progress is alive or not by its own lock.
func TestStatusTellsWhatTheDaemonSchedules(t *testing.T) {
	t.Parallel()
	shell := serveEnv(t) // the default schedule: every day at 03:00
	statusJSON := func() status.Status {
		t.Helper()
		r := rgz(t, shell, "status", "--json")
		var st status.Status
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
			t.Fatalf("status --json: %+v", r)
		}
		return st
	}

	r := rgz(t, shell, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "Daemon:        none running") || strings.Contains(r.stdout, "Next run") ||
		!strings.Contains(r.stdout, "0 3 * * * (UTC) in this shell's configuration, which no daemon runs") {
		t.Fatalf("status with no daemon:\n%s", r.stdout)
	}
	if st := statusJSON(); st.NextScheduledRun != nil || st.ScheduleFrom != "configuration" || len(st.Daemons) != 0 {
		t.Fatalf("status --json with no daemon: %+v", st)
	}

	daemonEnv := maps.Clone(shell)
	daemonEnv["BACKUP_SCHEDULE_CRON"], daemonEnv["BACKUP_RESTORE_TEST_ENABLED"] = "*/20 * * * * *", "false"
	d := startServe(t, daemonEnv)
	pid := d.cmd.Process.Pid
	waitFor(t, 20*time.Second, "the daemon in status", func() bool { return len(statusJSON().Daemons) == 1 })
	r = rgz(t, shell, "status")
	if !strings.Contains(r.stdout, fmt.Sprintf("Daemon:        pid %d on ", pid)) || !strings.Contains(r.stdout, "Schedule:      */20 * * * * * (UTC)\n") ||
		!strings.Contains(r.stdout, "Restore test:  disabled in the daemon") || strings.Contains(r.stdout, "0 3 * * *") {
		t.Fatalf("status with a daemon every 20 s, from a shell that says 03:00:\n%s", r.stdout)
	}
	st := statusJSON()
	if st.ScheduleFrom != "daemon" || st.NextScheduledRun == nil || time.Until(*st.NextScheduledRun) > 21*time.Second || st.NextRestoreTest != nil {
		t.Fatalf("status --json with a daemon every 20 s: %+v", st)
	}
	d.stop(syscall.SIGTERM, 60*time.Second)
	if st := statusJSON(); len(st.Daemons) != 0 || st.NextScheduledRun != nil {
		t.Fatalf("status once the daemon stopped: %+v", st)
	}

	daemonEnv["POSTGRES_BACKUP_ENABLED"] = "false"
	d = startServe(t, daemonEnv)
	waitFor(t, 20*time.Second, "the daemon in status", func() bool { return len(statusJSON().Daemons) == 1 })
	r = rgz(t, shell, "status")
	if !strings.Contains(r.stdout, "Schedule:      disabled in the daemon (POSTGRES_BACKUP_ENABLED=false)") || strings.Contains(r.stdout, "Next run") {
		t.Fatalf("status with a daemon that schedules nothing:\n%s", r.stdout)
	}
	d.stop(syscall.SIGKILL, 10*time.Second)
	if st := statusJSON(); len(st.Daemons) != 1 {
		t.Fatalf("a daemon killed a moment ago (its row not yet 30 s old): %+v", st.Daemons)
	}
}

// DAEMON.md shows status's output as it is: the sample is what
// printStatus prints for the state it describes.
func TestDaemonDocShowsStatusAsPrinted(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/DAEMON.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## `rgz-backup status`.*?```\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("DAEMON.md shows no status output")
	}
	now := time.Date(2026, 11, 25, 8, 41, 0, 0, time.UTC)
	next, test := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	last := catalog.Execution{Filename: "20261125_030001.dump.gz", Status: catalog.StatusSuccess, BackupDate: time.Date(2026, 11, 25, 3, 0, 1, 0, time.UTC),
		TriggeredBy: catalog.TriggerScheduled, Attempt: 1}
	st := status.Status{
		Daemons: []catalog.Daemon{{Host: "rgz-1", PID: 2143, StartedAt: now.Add(-(3*time.Hour + 12*time.Minute + 5*time.Second)), Version: "v1.4.0",
			Plan: catalog.Plan{Schedule: "0 3 * * *", ScheduleEnabled: true, NextRun: &next, RestoreTests: "weekly", RestoreTestsOn: true, NextRestoreTest: &test}}},
		ScheduleFrom: "daemon", Schedule: "0 3 * * *", ScheduleEnabled: true, NextScheduledRun: &next, NextRestoreTest: &test,
		LastRun: &last, LastSuccess: &last, Attempts: []status.Attempt{}, Jobs: []jobs.Queued{},
	}
	var out strings.Builder
	if err := printStatus(&out, st, now); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(m[1]) {
		t.Fatalf("DAEMON.md shows:\n%s\nstatus prints:\n%s", m[1], out.String())
	}
}
