// Package retention decides which backups go and which stay (a pure
// function over catalog facts and an instant), and carries that decision
// out on the backup directory and the catalog.
//
// The policy is the same for the local directory and for S3; only the date
// each copy expires differs (see Expiry). Its safety rules come before any
// date: the newest successful backup and the MinKeep newest successful ones
// are never deleted, a backup being read is never deleted, and a plan that
// would delete more than half of the successful backups is refused whole.
package retention

import (
	"fmt"
	"sort"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// Classes of backups: a daily copy lives BACKUP_LOCAL_RETENTION_DAYS; the
// first successful backup of each calendar month (UTC) is that month's
// compliance copy (ARCEP) and lives BACKUP_CRITICAL_RETENTION_DAYS.
const (
	ClassDaily      = catalog.ClassDaily
	ClassCompliance = catalog.ClassCompliance
)

// Copy is one copy of one backup (the local file, or the S3 object) as the
// policy sees it.
type Copy struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
	// Database is the backed-up database (database_name): each database's
	// copies are weighed apart, so that one database's backups never count
	// for another's newest, its minimum kept, or its compliance copy.
	Database string    `json:"database"`
	Date     time.Time `json:"backup_date"`
	// Good: the backup succeeded (success or partial): its file is a
	// valid backup. A failed attempt owns no file: Decide ignores it, so
	// that no failed row can ever delete a file, nor weigh on a rule.
	Good    bool                   `json:"good"`
	Class   catalog.RetentionClass `json:"retention_class"`
	Expires time.Time              `json:"expires"` // the copy may go once this day (UTC) is over
	InUse   bool                   `json:"in_use"`  // a restore or restore test is reading it
}

// Rules are the policy's numbers.
type Rules struct {
	MinKeep int // BACKUP_MIN_KEEP: the newest this many good copies always stay
}

// Decision says what happens to one expired copy, and why.
type Decision struct {
	Copy   Copy   `json:"copy"`
	Delete bool   `json:"delete"`
	Why    string `json:"why"`
}

// Plan is the outcome of the policy for one place (local or S3).
type Plan struct {
	// Decisions covers every expired copy: those to delete and those kept
	// by a safety rule. Copies not yet expired are not listed.
	Decisions []Decision `json:"decisions"`
	// Refused, when set, says why nothing may be deleted at all.
	Refused string `json:"refused,omitempty"`
}

// Deletions are the decisions that delete (none when the plan is refused).
func (p Plan) Deletions() []Decision {
	if p.Refused != "" {
		return nil
	}
	var out []Decision
	for _, d := range p.Decisions {
		if d.Delete {
			out = append(out, d)
		}
	}
	return out
}

// Decide applies the policy to the copies present in one place as of now.
// It decides per copy (per owner row, by id); copies that are not Good are
// ignored.
//
// Each database's copies are decided apart (Copy.Database): the newest
// good copy and the MinKeep newest are kept per database, and the "more
// than half" refusal counts per database. A database no longer backed up
// thus keeps its last good backups until someone deletes them by hand.
func Decide(copies []Copy, now time.Time, rules Rules) Plan {
	var order []string
	byDatabase := map[string][]Copy{}
	for _, c := range copies {
		if _, seen := byDatabase[c.Database]; !seen {
			order = append(order, c.Database)
		}
		byDatabase[c.Database] = append(byDatabase[c.Database], c)
	}
	var plan Plan
	for _, db := range order {
		p := decideOne(byDatabase[db], now, rules)
		plan.Decisions = append(plan.Decisions, p.Decisions...)
		if p.Refused != "" && plan.Refused == "" {
			plan.Refused = p.Refused
			if len(order) > 1 {
				plan.Refused = "database " + db + ": " + p.Refused
			}
		}
	}
	return plan
}

// decideOne is Decide for the copies of one database.
func decideOne(copies []Copy, now time.Time, rules Rules) Plan {
	var sorted []Copy
	for _, c := range copies {
		if c.Good {
			sorted = append(sorted, c)
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Date.After(sorted[j].Date) })

	keepNewest := max(rules.MinKeep, 1)
	today := day(now)
	var plan Plan
	good, goodDeleted, goodSeen := len(sorted), 0, 0
	for _, c := range sorted {
		goodSeen++
		if !today.After(day(c.Expires)) {
			continue
		}
		d := Decision{Copy: c}
		expired := fmt.Sprintf("%s copy, kept until %s", c.Class, c.Expires.Format(time.DateOnly))
		switch {
		case goodSeen == 1:
			d.Why = expired + "; kept: the newest successful backup is never deleted"
		case goodSeen <= keepNewest:
			d.Why = fmt.Sprintf("%s; kept: one of the %d newest successful backups (BACKUP_MIN_KEEP)", expired, keepNewest)
		case c.InUse:
			d.Why = expired + "; kept: a restore or restore test is reading it"
		default:
			d.Delete, d.Why = true, expired
			goodDeleted++
		}
		plan.Decisions = append(plan.Decisions, d)
	}
	// A clock far ahead (bad NTP) makes everything look expired; MinKeep
	// alone would still leave a week. Deleting most of the store in one
	// run is never routine: stop and let a person look.
	if goodDeleted*2 > good {
		plan.Refused = fmt.Sprintf("refusing to delete %d of the %d successful backups in one run (more than half): "+
			"is the clock right (now %s)? Nothing was deleted; if this is intended, run `rgz-backup retention --allow-mass-delete`",
			goodDeleted, good, now.UTC().Format(time.RFC3339))
	}
	return plan
}

// AllowMassDelete lifts a refusal for more than half of the store: the
// operator has looked and wants it.
func (p Plan) AllowMassDelete() Plan {
	p.Refused = ""
	return p
}

// Expiry is the last day a copy is kept: the backup's date plus the days
// of its class in that place.
func Expiry(date time.Time, class catalog.RetentionClass, dailyDays, complianceDays int) time.Time {
	days := dailyDays
	if class == ClassCompliance {
		days = complianceDays
	}
	return day(date).AddDate(0, 0, days)
}

// Promotions lists the good backups that must become their month's
// compliance copy: for each database and calendar month (UTC) with good
// backups and no compliance copy yet, the first of them. Backups taken before this rule
// existed are classified this way, and so is each new backup.
func Promotions(copies []Copy) []Copy {
	sorted := append([]Copy(nil), copies...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Date.Before(sorted[j].Date) })
	covered := map[string]bool{} // database and month
	for _, c := range sorted {
		if c.Good && c.Class == ClassCompliance {
			covered[c.Database+"/"+month(c.Date)] = true
		}
	}
	var out []Copy
	for _, c := range sorted {
		if key := c.Database + "/" + month(c.Date); c.Good && !covered[key] {
			covered[key] = true
			out = append(out, c)
		}
	}
	return out
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func month(t time.Time) string { return t.UTC().Format("2006-01") }
