package retention

import (
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
)

// CopyOf is the policy's view of a row, before any place is considered.
func CopyOf(row catalog.Execution) Copy {
	c := Copy{ID: row.ID, Filename: row.Filename, Date: row.BackupDate,
		Good:  row.Status.Good(),
		Class: row.RetentionClass}
	if row.DatabaseName != nil {
		c.Database = *row.DatabaseName
		// Two servers may each have an rgz: each is weighed alone.
		if row.TargetName != "" && row.TargetName != catalog.DefaultTarget {
			c.Database = row.TargetName + "/" + c.Database
		}
	}
	return c
}

// LocalExpiry is the last day the local copy of row is kept: its
// retention_until, or, for a row without one (a failed attempt), its date
// plus the days of its class.
func LocalExpiry(row catalog.Execution, cfg config.Config) time.Time {
	if row.RetentionUntil != nil {
		return row.RetentionUntil.Time
	}
	return Expiry(row.BackupDate, row.RetentionClass, cfg.LocalRetentionDays, cfg.CriticalRetentionDays)
}

// ClassOf decides the class of a new good backup: compliance when it is the
// first good backup of its month, given the rows of that month so far.
func ClassOf(row catalog.Execution, sameMonth []catalog.Execution) catalog.RetentionClass {
	copies := []Copy{CopyOf(row)}
	copies[0].Good = true
	for _, r := range sameMonth {
		if r.ID != row.ID {
			copies = append(copies, CopyOf(r))
		}
	}
	for _, p := range Promotions(copies) {
		if p.ID == row.ID {
			return ClassCompliance
		}
	}
	return ClassDaily
}
