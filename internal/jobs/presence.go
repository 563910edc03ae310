package jobs

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
	"github.com/mosaique/rgz-backup/internal/version"
)

// PresenceEvery is how often a daemon refreshes its row in the catalog:
// well within catalog.DaemonSeenWithin.
const PresenceEvery = 10 * time.Second

// PlanOf is what a daemon with cfg (and fleet's targets) schedules, its
// next runs after now.
func PlanOf(cfg config.Config, fleet *targets.Fleet, now time.Time) catalog.Plan {
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

// FreshPlan is p as of now: a next run that has passed since the daemon
// wrote its row (up to PresenceEvery ago) is replaced by the one after,
// from the plan's own schedules.
func FreshPlan(p catalog.Plan, now time.Time) catalog.Plan {
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

// Presence keeps this daemon's row in the catalog (catalog.Daemon) while
// it runs, refreshed every PresenceEvery with its plan, and removes it
// when it stops: `rgz-backup status` shows what the running daemons
// schedule.
type Presence struct {
	Store  *catalog.Store
	Config config.Config
	Fleet  *targets.Fleet
	Clock  clock.Clock
	Log    *slog.Logger
}

// Run refreshes the row until ctx ends, then removes it.
func (p *Presence) Run(ctx context.Context) {
	clk := clock.Or(p.Clock)
	host, _ := os.Hostname()
	me := catalog.Daemon{Host: host, PID: os.Getpid(), StartedAt: time.Now().UTC().Truncate(time.Microsecond), Version: version.Get().Version}
	failing := false
	tick := time.NewTicker(PresenceEvery)
	defer tick.Stop()
	for {
		me.Plan = PlanOf(p.Config, p.Fleet, clk.Now())
		err := p.Store.SeeDaemon(ctx, me)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			p.Log.Warn("this daemon could not record itself in the catalog; `rgz-backup status` may not see it", "error", err)
		case err == nil && failing:
			p.Log.Info("this daemon is recorded in the catalog again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			gone, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := p.Store.DaemonGone(gone, me); err != nil {
				p.Log.Warn("this daemon's row stays in the catalog until it is a day old", "error", err)
			}
			return
		case <-tick.C:
		}
	}
}
