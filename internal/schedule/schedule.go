// Package schedule holds the daemon's timing decisions as plain functions:
// when the daily slot is, whether a job that starts late still runs (a
// missed night is caught up, never skipped) or is skipped (its slot already
// has a success), the latest slot a daemon must make sure of, and how long
// to wait before retrying a failed attempt. All times are UTC.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is when scheduled backups are due. It satisfies River's
// PeriodicSchedule.
type Schedule struct {
	Spec string // as given, for messages and `status`
	cron cron.Schedule
}

// seconds-first six-field parser; five fields use cron.ParseStandard's fields.
var (
	fiveFields = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	sixFields  = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
)

// Parse reads a cron expression of 5 fields (minute hour day month weekday)
// or 6 with seconds first, evaluated in UTC.
func Parse(spec string) (Schedule, error) {
	fields := strings.Fields(spec)
	var parser cron.Parser
	switch len(fields) {
	case 5:
		parser = fiveFields
	case 6:
		parser = sixFields
	default:
		return Schedule{}, fmt.Errorf("must be a cron expression of 5 fields (minute hour day month weekday) or 6 with seconds first, got %d fields", len(fields))
	}
	s, err := parser.Parse(strings.Join(fields, " "))
	if err != nil {
		return Schedule{}, fmt.Errorf("must be a cron expression: %v", err)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = time.UTC
	}
	return Schedule{Spec: strings.Join(fields, " "), cron: s}, nil
}

// Daily is the specification's schedule: every day at hour:minute UTC ("0 3 * * *").
func Daily(hour, minute int) (Schedule, error) {
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return Schedule{}, fmt.Errorf("no time %02d:%02d in a day", hour, minute)
	}
	return Parse(fmt.Sprintf("%d %d * * *", minute, hour))
}

// Next is the first slot strictly after t.
func (s Schedule) Next(t time.Time) time.Time { return s.cron.Next(t.UTC()) }

// Latest is the most recent slot at or before now: the slot a job that
// fires at now belongs to, and the slot a daemon that starts at now must
// make sure of. It looks back as far as it takes — a missed Friday slot of
// a weekdays schedule is found on Monday morning, and 04:00 of "0 3,4 * * *"
// at 10:00 — up to maxLookBack; ok is false when no slot falls in it.
func (s Schedule) Latest(now time.Time) (slot time.Time, ok bool) {
	now = now.UTC()
	first := s.Next(now)
	if first.IsZero() {
		return time.Time{}, false // a schedule that never fires
	}
	for window := max(s.Next(first).Sub(first), time.Second); window <= maxLookBack; window *= 2 {
		for t := s.Next(now.Add(-window - time.Second)); !t.IsZero() && !t.After(now); t = s.Next(t) {
			slot, ok = t, true
		}
		if ok {
			return slot, true
		}
	}
	return time.Time{}, false
}

// maxLookBack bounds Latest's search: wider than the widest gap a cron
// schedule can have (February 29th, every four years).
const maxLookBack = 9 * 366 * 24 * time.Hour

// Nearest is the slot closest to t. The job engine inserts a slot's job a
// moment before or after the slot; Nearest names that slot either way.
func (s Schedule) Nearest(t time.Time) time.Time {
	next := s.Next(t.Add(-time.Nanosecond)) // t itself counts when it is a slot
	prev, ok := s.Latest(t)
	if !ok || next.Sub(t) < t.Sub(prev) {
		return next
	}
	return prev
}

// Decision says what a scheduled job does when it starts.
type Decision int

const (
	Run     Decision = iota // on time: triggered_by = scheduled
	CatchUp                 // late, and its day has no success yet: triggered_by = catch_up
	Skip                    // its slot already has a success
)

func (d Decision) String() string {
	return [...]string{"run", "catch_up", "skip"}[d]
}

// Decide what a job for slot does when it starts at started, given the
// backup date of the newest successful backup (zero: none). A job within
// the tolerance runs unless its slot already has a success; a later one
// runs as a catch-up when the slot's UTC day has no success yet, and is
// skipped otherwise.
func Decide(slot, started time.Time, tolerance time.Duration, newestSuccess time.Time) (Decision, string) {
	slot, started = slot.UTC(), started.UTC()
	if !newestSuccess.IsZero() && !newestSuccess.Before(slot) {
		return Skip, fmt.Sprintf("slot %s already has a successful backup (%s)", slot.Format(time.RFC3339), newestSuccess.UTC().Format(time.RFC3339))
	}
	late := started.Sub(slot)
	if late <= tolerance {
		return Run, ""
	}
	if !newestSuccess.IsZero() && sameDay(newestSuccess.UTC(), slot) {
		return Skip, fmt.Sprintf("started %s after its slot and %s already has a successful backup", late.Round(time.Second), slot.Format(time.DateOnly))
	}
	return CatchUp, fmt.Sprintf("started %s after its slot %s, beyond the %s tolerance; %s has no successful backup yet",
		late.Round(time.Second), slot.Format(time.RFC3339), tolerance, slot.Format(time.DateOnly))
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// Retries is how many times a failed backup is tried again: the
// specification's 3 (docs/REQUIREMENTS.md).
const Retries = 3

// DefaultRetryDelays are the specification's waits before each retry:
// 30 s, 60 s, 120 s (BACKUP_RETRY_DELAYS changes them, not their number).
var DefaultRetryDelays = []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second}

// MaxAttempts is the first attempt plus the retries.
const MaxAttempts = 1 + Retries

// RetryDelay is how long to wait after attempt number failedAttempt
// (1-based) failed, given the delays before each retry; ok is false when
// no attempt is left.
func RetryDelay(failedAttempt int, delays []time.Duration) (delay time.Duration, ok bool) {
	if failedAttempt < 1 || failedAttempt > len(delays) || failedAttempt > Retries {
		return 0, false
	}
	return delays[failedAttempt-1], true
}
