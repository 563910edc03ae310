// Package plan is what a daemon schedules, as it tells the catalog
// (catalog.Plan) and as status and the mails read it back: its schedules
// and their next runs, its targets' own, fresh as of any moment.
package plan

import (
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// Of is what a daemon with cfg (and fleet's targets) schedules, its
// next runs after now.
func Of(cfg config.Config, fleet *targets.Fleet, now time.Time) catalog.Plan {
	p := catalog.Plan{Schedule: cfg.Schedule.Spec, ScheduleEnabled: cfg.ScheduleEnabled,
		RestoreTests: cfg.RestoreTest.Schedule.Spec, RestoreTestsOn: cfg.RestoreTest.Enabled}
	if cfg.ScheduleEnabled {
		next := cfg.Schedule.Next(now)
		p.NextRun = &next
	}
	if cfg.RestoreTest.Enabled {
		next := cfg.RestoreTest.Schedule.Next(now)
		p.NextRestoreTest = &next
	}
	if fleet == nil {
		return p
	}
	for _, s := range fleet.Servers() {
		if s.Schedule == "" && s.RestoreTestSchedule == "" {
			continue
		}
		t := catalog.TargetPlan{Target: s.Target, Schedule: s.Schedule, RestoreTestSchedule: s.RestoreTestSchedule}
		if sched, err := schedule.Parse(s.Schedule); err == nil && s.Schedule != "" && cfg.ScheduleEnabled {
			next := sched.Next(now)
			t.NextRun = &next
			if p.NextRun == nil || next.Before(*p.NextRun) {
				p.NextRun = &next
			}
		}
		p.Targets = append(p.Targets, t)
	}
	return p
}

// Fresh is p as of now: a next run that has passed since the daemon
// wrote its row (a few seconds ago) is replaced by the one after,
// from the plan's own schedules.
func Fresh(p catalog.Plan, now time.Time) catalog.Plan {
	next := func(spec string, at *time.Time) *time.Time {
		if at == nil || at.After(now) {
			return at
		}
		sched, err := schedule.Parse(spec)
		if err != nil {
			return at
		}
		n := sched.Next(now)
		return &n
	}
	p.NextRestoreTest = next(p.RestoreTests, p.NextRestoreTest)
	targets := make([]catalog.TargetPlan, len(p.Targets))
	var earliest *time.Time
	if p.NextRun != nil && p.ScheduleEnabled {
		earliest = next(p.Schedule, p.NextRun)
		if earliest != nil && !earliest.After(now) {
			earliest = nil
		}
	}
	for i, t := range p.Targets {
		t.NextRun = next(t.Schedule, t.NextRun)
		if t.NextRun != nil && (earliest == nil || t.NextRun.Before(*earliest)) {
			earliest = t.NextRun
		}
		targets[i] = t
	}
	if p.NextRun != nil {
		p.NextRun = earliest
	}
	if len(targets) > 0 {
		p.Targets = targets
	}
	return p
}

// NextOf is the next backup of target's databases in p: its own schedule,
// else the daemon's; zero when none is scheduled.
func NextOf(p catalog.Plan, target string) time.Time {
	for _, t := range p.Targets {
		if t.Target == target && t.Schedule != "" {
			if t.NextRun == nil {
				return time.Time{}
			}
			return *t.NextRun
		}
	}
	if p.ScheduleEnabled && p.NextRun != nil {
		if s, err := schedule.Parse(p.Schedule); err == nil {
			return s.Next(p.NextRun.Add(-time.Nanosecond)) // the daemon's own schedule's, not a target's earlier one
		}
	}
	return time.Time{}
}

// Earliest is the next scheduled backup of any of the running daemons, as
// of now; zero when none schedules one.
func Earliest(daemons []catalog.Daemon, now time.Time) time.Time {
	var next time.Time
	for _, d := range daemons {
		if n := Fresh(d.Plan, now).NextRun; n != nil && (next.IsZero() || n.Before(next)) {
			next = *n
		}
	}
	return next
}
