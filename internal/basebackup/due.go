package basebackup

import (
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/schedule"
)

// RetryAfter is how long after a failed base backup the daemon tries
// again, whatever the schedule says: soon enough that a first base
// backup (without which nothing restores) is not a week away, not so
// soon that a broken server is asked every minute.
const RetryAfter = 10 * time.Minute

// Decision is whether a base backup is due, why, and under which row.
type Decision struct {
	Due     bool
	Trigger string
	Request uuid.UUID // a requested row to take it under; zero: a new row
}

// Due decides from a cluster's base backups (oldest first) whether the
// daemon takes one now: one asked for (rgz-backup pitr base-backup
// --enqueue) at once; none has succeeded yet, or the schedule's slot after
// the newest success has come; but not within RetryAfter of a failure,
// nor beside one running.
func Due(rows []catalog.BaseBackup, sched schedule.Schedule, now time.Time) Decision {
	var newest, lastFailure *catalog.BaseBackup
	for i := range rows {
		r := &rows[i]
		switch r.Status {
		case "requested":
			return Decision{Due: true, Trigger: TriggerManual, Request: r.ID}
		case "running":
			return Decision{}
		case "success":
			newest = r
		case "failed":
			lastFailure = r
		}
	}
	if lastFailure != nil && (newest == nil || lastFailure.StartedAt.After(newest.StartedAt)) && now.Before(lastFailure.StartedAt.Add(RetryAfter)) {
		return Decision{}
	}
	if newest == nil {
		return Decision{Due: true, Trigger: TriggerFirst}
	}
	if !sched.Next(newest.StartedAt).After(now) {
		return Decision{Due: true, Trigger: TriggerScheduled}
	}
	return Decision{}
}

// FailedRecently says whether the newest base backup failed less than
// RetryAfter before now: nothing forces another one sooner.
func FailedRecently(rows []catalog.BaseBackup, now time.Time) bool {
	for i := len(rows) - 1; i >= 0; i-- {
		switch rows[i].Status {
		case "failed":
			return now.Before(rows[i].StartedAt.Add(RetryAfter))
		case "success":
			return false
		}
	}
	return false
}
