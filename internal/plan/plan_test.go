package plan

import (
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// What a daemon tells status it schedules: its own schedules' next runs
// on its clock, the earliest of its targets' own as its next run, and no
// next run for what it does not schedule.
func TestOf(t *testing.T) {
	now := time.Date(2026, 3, 1, 4, 10, 0, 0, time.UTC)
	daily, _ := schedule.Parse("0 3 * * *")
	sundays, _ := schedule.Parse("0 2 * * 0")
	cfg := config.Config{Schedule: daily, ScheduleEnabled: true,
		RestoreTest: config.RestoreTest{Enabled: true, Schedule: sundays, ScheduleText: "weekly"}}
	fleet := &targets.Fleet{}
	fleet.Set([]targets.Server{{Target: "main"}, {Target: "site-b", Schedule: "30 4 * * *"}, {Target: "site-c", RestoreTestSchedule: "0 6 * * 0"}})

	p := Of(cfg, fleet, now)
	if p.Schedule != "0 3 * * *" || !p.ScheduleEnabled || p.NextRun == nil || !p.NextRun.Equal(time.Date(2026, 3, 1, 4, 30, 0, 0, time.UTC)) {
		t.Fatalf("next run: %+v (want site-b's 04:30, before the environment's 03:00 tomorrow)", p)
	}
	if p.RestoreTests != "0 2 * * 0" || p.NextRestoreTest == nil || !p.NextRestoreTest.Equal(time.Date(2026, 3, 8, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("restore tests: %+v", p)
	}
	if len(p.Targets) != 2 || p.Targets[0].Target != "site-b" || p.Targets[0].NextRun == nil || p.Targets[1].NextRun != nil {
		t.Fatalf("targets: %+v", p.Targets)
	}

	cfg.ScheduleEnabled, cfg.RestoreTest.Enabled = false, false
	p = Of(cfg, fleet, now)
	if p.NextRun != nil || p.NextRestoreTest != nil || p.Targets[0].NextRun != nil {
		t.Fatalf("a daemon that schedules nothing has a next run: %+v", p)
	}
}

// A plan read a few seconds after it was written, across a slot, shows the
// slot after; a next run still ahead is left as the daemon computed it.
func TestFresh(t *testing.T) {
	written := time.Date(2026, 3, 1, 2, 59, 55, 0, time.UTC)
	daily, _ := schedule.Parse("0 3 * * *")
	cfg := config.Config{Schedule: daily, ScheduleEnabled: true, RestoreTest: config.RestoreTest{Enabled: true, Schedule: daily}}
	fleet := &targets.Fleet{}
	fleet.Set([]targets.Server{{Target: "site-b", Schedule: "30 4 * * *"}})
	p := Of(cfg, fleet, written)

	if fresh := Fresh(p, written.Add(2*time.Second)); !fresh.NextRun.Equal(*p.NextRun) {
		t.Fatalf("before the slot: %s, want %s", fresh.NextRun, p.NextRun)
	}
	read := written.Add(8 * time.Second) // 03:00:03
	fresh := Fresh(p, read)
	if !fresh.NextRun.Equal(time.Date(2026, 3, 1, 4, 30, 0, 0, time.UTC)) || !fresh.NextRestoreTest.Equal(time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)) ||
		!fresh.Targets[0].NextRun.Equal(time.Date(2026, 3, 1, 4, 30, 0, 0, time.UTC)) {
		t.Fatalf("after the slot: %+v", fresh)
	}
	cfg.ScheduleEnabled = false
	if off := Fresh(Of(cfg, nil, written), read); off.NextRun != nil {
		t.Fatalf("a daemon that schedules nothing: %+v", off)
	}
}
