package config

import (
	"regexp"
	"time"

	"github.com/mosaique/rgz-backup/internal/schedule"
)

// PITR is point-in-time recovery of the environment's server
// (BACKUP_PITR_*, docs/PITR.md): a WAL stream through a replication slot
// and base backups, beside the nightly dumps.
type PITR struct {
	Enabled          bool
	Slot             string            // the physical replication slot
	ShipEvery        time.Duration     // how often the segment being written is copied
	BaseSchedule     schedule.Schedule // when a base backup is taken
	BaseScheduleText string            // as given, for messages
	RetentionDays    int               // base backups kept inside this window, plus the one before
	// TestSchedule is when the point-in-time restore test runs (with
	// BACKUP_RESTORE_TEST_ENABLED, which governs both kinds of test).
	TestSchedule     schedule.Schedule
	TestScheduleText string
}

// pitrBaseSchedules are the names BACKUP_PITR_BASE_SCHEDULE accepts
// besides a cron expression: an hour before the nightly restore test's.
var pitrBaseSchedules = map[string]string{
	"daily":   "0 1 * * *",
	"weekly":  "0 1 * * 0",
	"monthly": "0 1 1 * *",
}

// pitrTestSchedules are the names BACKUP_PITR_RESTORE_TEST_SCHEDULE
// accepts besides a cron expression: midweek, so that the week's random
// moments are far from Sunday's base backup and dump restore test.
var pitrTestSchedules = map[string]string{
	"daily":   "0 3 * * *",
	"weekly":  "0 3 * * 3",
	"monthly": "0 3 15 * *",
}

// slotName is what PostgreSQL accepts as a replication slot's name.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func (r *reader) pitr() PITR {
	p := PITR{
		Enabled:       r.boolean("BACKUP_PITR_ENABLED"),
		Slot:          r.str("BACKUP_PITR_SLOT"),
		ShipEvery:     time.Duration(r.intRange("BACKUP_PITR_SHIP_SECONDS", 1, 3600)) * time.Second,
		RetentionDays: r.intRange("BACKUP_PITR_RETENTION_DAYS", 1, 3650),
	}
	if !slotName.MatchString(p.Slot) {
		r.fail("BACKUP_PITR_SLOT", p.Slot, "must be 1 to 63 lower-case letters, digits or underscores (a replication slot's name)")
	}
	p.BaseSchedule, p.BaseScheduleText = r.namedSchedule("BACKUP_PITR_BASE_SCHEDULE", pitrBaseSchedules)
	p.TestSchedule, p.TestScheduleText = r.namedSchedule("BACKUP_PITR_RESTORE_TEST_SCHEDULE", pitrTestSchedules)
	return p
}
