package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// A slot of the schedule must get its backup job whatever happens to the
// daemons: River's periodic jobs are inserted by the leader alone, and a
// slot that passes while a leader is being elected (a replica that died,
// a daemon restarted a second before the slot) is forgotten. So no
// replica relies on leadership for its slots: every replica, at start and
// at every slot, inserts the job of each schedule's latest slot (the
// environment's, and each target's own), and River's unique jobs keep one
// job a slot however many insert it. A slot whose time passed while no
// daemon ran is caught up once, its latest, as soon as one starts.

// Slot is one schedule's slot whose job a keeper made sure of.
type Slot struct {
	Target string    // "" for the environment's schedule
	At     time.Time // the slot
	// Inserted: this call inserted its job (false: it was there, or the
	// slot already has a successful backup).
	Inserted bool
	CatchUp  bool // inserted late (beyond the tolerance): a catch-up
}

// SlotKeeper makes sure every slot gets its job (see above).
type SlotKeeper struct {
	Client *Client
	Store  *catalog.Store
	Config config.Config
	Fleet  *targets.Fleet // with a targets file: the targets' own schedules
	Clock  clock.Clock
	Log    *slog.Logger

	// ensured is the latest slot of each schedule already made sure of:
	// checked once, not every minute (with several databases the check
	// lists every server's databases).
	ensured map[string]time.Time
}

// schedules are the schedules slots come from now, by target ("": the
// environment's).
func (k *SlotKeeper) schedules() map[string]schedule.Schedule {
	out := map[string]schedule.Schedule{}
	if !k.Config.ScheduleEnabled {
		return out
	}
	out[""] = k.Config.Schedule
	if k.Fleet == nil {
		return out
	}
	for _, s := range k.Fleet.Servers() {
		if s.Schedule == "" {
			continue
		}
		if sched, err := schedule.Parse(s.Schedule); err == nil { // checked when the file was read
			out[s.Target] = sched
		}
	}
	return out
}

// Ensure inserts the job of each schedule's latest slot at or before now
// that has neither its job nor a successful backup since. It returns
// every slot it looked at.
func (k *SlotKeeper) Ensure(ctx context.Context, now time.Time) ([]Slot, error) {
	var out []Slot
	for target, sched := range k.schedules() {
		at, ok := sched.Latest(now)
		if !ok {
			continue
		}
		slot := Slot{Target: target, At: at}
		if k.ensured[target].Equal(at) {
			out = append(out, slot)
			continue
		}
		done, err := k.succeededSince(ctx, target, at)
		if err != nil {
			return out, err
		}
		if !done {
			trigger := catalog.TriggerScheduled
			if now.Sub(at) > k.Config.Tolerance {
				trigger, slot.CatchUp = catalog.TriggerCatchUp, true
			}
			res, err := k.Client.Insert(ctx, BackupArgs{TriggeredBy: trigger, Slot: at, RunID: uuid.NewString(), Target: target}, uniquePerSlot())
			if err != nil {
				return out, fmt.Errorf("enqueue the backup of slot %s: %w", at.Format(time.RFC3339), err)
			}
			slot.Inserted = !res.UniqueSkippedAsDuplicate
		}
		if k.ensured == nil {
			k.ensured = map[string]time.Time{}
		}
		k.ensured[target] = at
		out = append(out, slot)
	}
	return out, nil
}

// succeededSince says whether the backups of the schedule of target have
// succeeded at or after slot: its slot needs no job. With several
// databases, every database of the run must have (the oldest newest
// success); a server that cannot be listed counts as not done.
func (k *SlotKeeper) succeededSince(ctx context.Context, target string, slot time.Time) (bool, error) {
	var newest time.Time
	var err error
	switch {
	case !k.Config.Several():
		newest, err = newestSuccess(ctx, k.Store)
	default:
		newest, err = oldestNewestOf(ctx, k.Store, k.Fleet, target)
	}
	return err == nil && !newest.IsZero() && !newest.Before(slot), err
}

// Run makes sure of the slots at once, then at each slot of any schedule
// (and every minute, in case the clock jumps or the targets change),
// until ctx ends.
func (k *SlotKeeper) Run(ctx context.Context) {
	clk := clock.Or(k.Clock)
	for {
		now := clk.Now()
		slots, err := k.Ensure(ctx, now)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			k.Log.Error("the scheduled backups' slots could not be checked; trying again", "error", err)
		}
		for _, s := range slots {
			if s.Inserted && s.CatchUp {
				k.Log.Warn("a catch-up backup is queued: its slot passed while no daemon could queue it", "slot", s.At, "target", s.Target)
			} else if s.Inserted {
				k.Log.Info("scheduled backup queued", "slot", s.At, "target", s.Target)
			}
		}
		wait := time.Minute
		for _, sched := range k.schedules() {
			if d := sched.Next(now).Sub(now); d < wait {
				wait = d
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
