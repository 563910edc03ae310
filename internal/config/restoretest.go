package config

import (
	"net/url"
	"strings"

	"github.com/mosaique/rgz-backup/internal/schedule"
)

// RestoreTest is the weekly proof that a backup restores
// (BACKUP_RESTORE_TEST_*).
type RestoreTest struct {
	Enabled       bool
	Schedule      schedule.Schedule // weekly: Sundays 02:00 UTC
	ScheduleText  string            // as given, for messages
	BackupAgeDays int               // test the backup closest to this age
	Target        Database          // the server the scratch database is created on
	Timeout       int               // seconds
}

// restoreTestSchedules are the names BACKUP_RESTORE_TEST_SCHEDULE accepts
// besides a cron expression.
var restoreTestSchedules = map[string]string{
	"daily":   "0 2 * * *",
	"weekly":  "0 2 * * 0",
	"monthly": "0 2 1 * *",
}

func (r *reader) restoreTest(backedUp Database) RestoreTest {
	rt := RestoreTest{
		Enabled:       r.boolean("BACKUP_RESTORE_TEST_ENABLED"),
		BackupAgeDays: r.intRange("BACKUP_RESTORE_TEST_BACKUP_AGE_DAYS", 0, 36500),
		Timeout:       r.intRange("BACKUP_RESTORE_TEST_TIMEOUT_SECONDS", 1, 7*24*3600),
		Target:        backedUp,
	}
	rt.Schedule, rt.ScheduleText = r.namedSchedule("BACKUP_RESTORE_TEST_SCHEDULE", restoreTestSchedules)
	if r.getenv("BACKUP_RESTORE_TEST_DATABASE_URL") != "" {
		rt.Target = r.url("BACKUP_RESTORE_TEST_DATABASE_URL")
	}
	return rt
}

// namedSchedule reads a schedule variable that takes daily, weekly,
// monthly (named's cron expressions) or a cron expression; it returns the
// schedule and the text as given, lowercased, for messages.
func (r *reader) namedSchedule(name string, named map[string]string) (schedule.Schedule, string) {
	text := strings.ToLower(r.str(name))
	expr := text
	if e, ok := named[text]; ok {
		expr = e
	}
	s, err := schedule.Parse(expr)
	if err != nil {
		r.fail(name, text, "must be daily, weekly, monthly or a cron expression (5 fields, or 6 with seconds first)")
	}
	return s, text
}

// WithDatabase is the same server and credentials, another database.
func (d Database) WithDatabase(name string) Database {
	u, err := url.Parse(d.URL)
	if err != nil {
		return d
	}
	q := u.Query()
	if q.Has("dbname") {
		q.Set("dbname", name)
		u.RawQuery = q.Encode()
	} else {
		// Escaped whole, '/' included: the name is one path segment to
		// libpq and pgx, whatever bytes it holds.
		u.Path, u.RawPath = "/"+name, "/"+url.PathEscape(name)
	}
	return Database{URL: u.String(), Password: d.Password}
}
