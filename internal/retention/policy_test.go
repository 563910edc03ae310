package retention

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// daily returns n good daily backups, one a day at 03:00, the newest
// ageDays old, each expiring 30 days after its date.
func daily(n, newestAgeDays int) []Copy {
	var out []Copy
	for i := range n {
		date := now.AddDate(0, 0, -newestAgeDays-i).Truncate(24 * time.Hour).Add(3 * time.Hour)
		out = append(out, Copy{ID: fmt.Sprint("d", newestAgeDays+i), Filename: date.Format("20060102_150405.dump.gz"),
			Date: date, Good: true, Class: ClassDaily, Expires: Expiry(date, ClassDaily, 30, 2555)})
	}
	return out
}

func deleted(p Plan) []string {
	var ids []string
	for _, d := range p.Deletions() {
		ids = append(ids, d.Copy.ID)
	}
	return ids
}

func TestDecide(t *testing.T) {
	t.Parallel()
	rules := Rules{MinKeep: 7}
	tests := []struct {
		name        string
		copies      []Copy
		now         time.Time
		minKeep     int // 0: 7
		wantDeleted []string
		wantWhy     string // in some decision
		refused     bool
	}{
		{name: "nothing expired", copies: daily(30, 0), wantDeleted: nil},
		{name: "expires the day after retention_until",
			copies: daily(32, 0), wantDeleted: []string{"d31"}, wantWhy: "daily copy, kept until"},
		{name: "the 30-day rule never touches a compliance copy",
			copies: append(daily(31, 0), Copy{ID: "c", Date: now.AddDate(0, -2, 0), Good: true, Class: ClassCompliance,
				Expires: Expiry(now.AddDate(0, -2, 0), ClassCompliance, 30, 2555)}),
			wantDeleted: nil},
		{name: "never the newest successful backup, however old",
			copies: daily(1, 400), minKeep: 1, wantDeleted: nil, wantWhy: "the newest successful backup is never deleted"},
		{name: "never fewer than MinKeep successful backups, whatever their age",
			copies: daily(9, 100), wantDeleted: []string{"d107", "d108"}, wantWhy: "one of the 7 newest successful backups"},
		{name: "failed attempts do not count toward MinKeep",
			copies:      append(daily(7, 100), Copy{ID: "f", Date: now.AddDate(0, 0, -1), Class: ClassDaily, Expires: now.AddDate(0, 0, 29)}),
			wantDeleted: nil},
		{name: "a copy being read stays",
			copies:      markInUse(daily(40, 0), "d35"),
			wantDeleted: []string{"d31", "d32", "d33", "d34", "d36", "d37", "d38", "d39"}, wantWhy: "a restore or restore test is reading it"},
		{name: "a failed attempt owns no file: never deleted, whatever its age",
			copies: append(daily(10, 0), Copy{ID: "f", Date: now.AddDate(0, 0, -40), Class: ClassDaily,
				Expires: Expiry(now.AddDate(0, 0, -40), ClassDaily, 30, 2555)}),
			wantDeleted: nil},
		// Issue 12: a failed row that shares the newest backup's name (two
		// attempts in one second) must not turn the newest backup into
		// "leftovers" once both rows are old.
		{name: "a failed row sharing the newest backup's name deletes nothing",
			copies:  sameName(daily(1, 40)[0], "f"),
			minKeep: 1, wantDeleted: nil, wantWhy: "the newest successful backup is never deleted"},
		{name: "a failed row sharing a compliance copy's name deletes nothing",
			copies: append(daily(8, 0), sameName(Copy{ID: "c", Filename: "20251101_030000.dump.gz", Date: now.AddDate(0, -4, 0), Good: true,
				Class: ClassCompliance, Expires: Expiry(now.AddDate(0, -4, 0), ClassCompliance, 30, 2555)}, "f")...),
			wantDeleted: nil},
		{name: "a clock far ahead cannot wipe the store",
			copies: daily(30, 0), now: now.AddDate(1, 0, 0), refused: true, wantWhy: "more than half"},
		{name: "exactly half is a normal day after a long outage",
			copies: daily(14, 24), wantDeleted: []string{"d31", "d32", "d33", "d34", "d35", "d36", "d37"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			if !tt.now.IsZero() {
				at = tt.now
			}
			r := rules
			if tt.minKeep != 0 {
				r.MinKeep = tt.minKeep
			}
			plan := Decide(tt.copies, at, r)
			if (plan.Refused != "") != tt.refused {
				t.Fatalf("refused = %q, want refused %v", plan.Refused, tt.refused)
			}
			if got := deleted(plan); fmt.Sprint(got) != fmt.Sprint(tt.wantDeleted) {
				t.Errorf("deleted %v, want %v", got, tt.wantDeleted)
			}
			if tt.wantWhy != "" && !strings.Contains(fmt.Sprint(plan.Decisions)+plan.Refused, tt.wantWhy) {
				t.Errorf("no reason mentions %q: %+v %s", tt.wantWhy, plan.Decisions, plan.Refused)
			}
		})
	}
}

func TestRefusalCanBeLifted(t *testing.T) {
	t.Parallel()
	plan := Decide(daily(30, 0), now.AddDate(1, 0, 0), Rules{MinKeep: 7})
	if len(plan.Deletions()) != 0 {
		t.Fatal("a refused plan deletes")
	}
	if got := len(plan.AllowMassDelete().Deletions()); got != 23 {
		t.Fatalf("lifted: %d deletions, want 23 (30 minus the 7 newest)", got)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	date := time.Date(2026, 2, 5, 3, 0, 15, 0, time.UTC)
	if got := Expiry(date, ClassDaily, 30, 2555).Format(time.DateOnly); got != "2026-03-07" {
		t.Errorf("daily: %s, want 2026-03-07 (the specification's example)", got)
	}
	if got := Expiry(date, ClassCompliance, 30, 2555).Format(time.DateOnly); got != "2033-02-03" {
		t.Errorf("compliance: %s", got)
	}
}

func TestPromotions(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { t, _ := time.Parse(time.DateTime, s); return t }
	copies := []Copy{
		{ID: "feb-fail", Date: at("2026-02-01 03:00:00")},
		{ID: "feb-1", Date: at("2026-02-01 03:30:00"), Good: true, Class: ClassDaily},
		{ID: "feb-2", Date: at("2026-02-02 03:00:00"), Good: true, Class: ClassDaily},
		{ID: "mar-1", Date: at("2026-03-01 03:00:00"), Good: true, Class: ClassDaily},
		{ID: "mar-c", Date: at("2026-03-02 03:00:00"), Good: true, Class: ClassCompliance},
		{ID: "jan-last", Date: at("2026-01-31 23:59:59"), Good: true, Class: ClassDaily},
	}
	var got []string
	for _, c := range Promotions(copies) {
		got = append(got, c.ID)
	}
	// March already has its compliance copy; January and February get theirs.
	if fmt.Sprint(got) != "[jan-last feb-1]" {
		t.Fatalf("promotions %v", got)
	}
}

// sameName returns good and a failed attempt of the same second: same
// file name, same date, another id.
func sameName(good Copy, failedID string) []Copy {
	failed := good
	failed.ID, failed.Good, failed.Class = failedID, false, ClassDaily
	failed.Expires = Expiry(good.Date, ClassDaily, 30, 2555)
	return []Copy{failed, good}
}

func markInUse(copies []Copy, id string) []Copy {
	for i := range copies {
		if copies[i].ID == id {
			copies[i].InUse = true
		}
	}
	return copies
}

// of gives copies a database.
func of(db string, copies []Copy) []Copy {
	for i := range copies {
		copies[i].Database, copies[i].ID = db, db+"/"+copies[i].ID
	}
	return copies
}

// Each database is weighed alone: one database's recent backups never
// make another's old ones deletable, each keeps its newest and its
// BACKUP_MIN_KEEP, and the "more than half" refusal counts per database.
func TestDecidePerDatabase(t *testing.T) {
	t.Parallel()
	rules := Rules{MinKeep: 7}
	cases := []struct {
		name        string
		copies      []Copy
		wantDeleted []string
		refused     string
	}{
		{"a database no longer backed up keeps its newest 7",
			append(of("rgz", daily(30, 0)), of("old", daily(9, 100))...), []string{"old/d107", "old/d108"}, ""},
		{"the same as one database when there is one",
			of("rgz", daily(32, 0)), []string{"rgz/d31"}, ""},
		{"a refusal names its database",
			append(of("rgz", daily(30, 0)), of("radius", daily(30, 20))...), nil, "database radius: refusing to delete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := Decide(c.copies, now, rules)
			if c.refused != "" {
				if !strings.HasPrefix(plan.Refused, c.refused) {
					t.Fatalf("refused %q, want %q", plan.Refused, c.refused)
				}
				return
			}
			if plan.Refused != "" || fmt.Sprint(deleted(plan)) != fmt.Sprint(c.wantDeleted) {
				t.Fatalf("deleted %v (refused %q), want %v", deleted(plan), plan.Refused, c.wantDeleted)
			}
		})
	}
	// One database alone: the refusal reads as it always has.
	if plan := Decide(of("rgz", daily(30, 20)), now, rules); !strings.HasPrefix(plan.Refused, "refusing to delete") {
		t.Fatalf("one database's refusal: %q", plan.Refused)
	}
}

// Each database gets its own compliance copy each month.
func TestPromotionsPerDatabase(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { t, _ := time.Parse(time.DateTime, s); return t }
	copies := []Copy{
		{ID: "rgz-c", Database: "rgz", Date: at("2026-03-01 03:00:00"), Good: true, Class: ClassCompliance},
		{ID: "radius-1", Database: "radius", Date: at("2026-03-01 03:05:00"), Good: true, Class: ClassDaily},
		{ID: "radius-2", Database: "radius", Date: at("2026-03-02 03:05:00"), Good: true, Class: ClassDaily},
		{ID: "rgz-2", Database: "rgz", Date: at("2026-03-02 03:00:00"), Good: true, Class: ClassDaily},
	}
	var got []string
	for _, c := range Promotions(copies) {
		got = append(got, c.ID)
	}
	if fmt.Sprint(got) != "[radius-1]" {
		t.Fatalf("promotions %v", got)
	}
}

// Two servers' databases of one name are two databases: CopyOf names a
// database off the default target TARGET/DATABASE.
func TestCopyOfNamesTheTarget(t *testing.T) {
	t.Parallel()
	rgz := "rgz"
	for _, c := range []struct {
		target, want string
	}{{"", "rgz"}, {catalog.DefaultTarget, "rgz"}, {"site-b", "site-b/rgz"}} {
		if got := CopyOf(catalog.Execution{TargetName: c.target, DatabaseName: &rgz}).Database; got != c.want {
			t.Errorf("target %q: %q, want %q", c.target, got, c.want)
		}
	}
	// So each gets its own compliance copy in a month.
	at := func(s string) time.Time { t, _ := time.Parse(time.DateTime, s); return t }
	row := func(id, target string, date string, class catalog.RetentionClass) Copy {
		c := CopyOf(catalog.Execution{ID: id, TargetName: target, DatabaseName: &rgz, Status: catalog.StatusSuccess, BackupDate: at(date), RetentionClass: class})
		return c
	}
	got := Promotions([]Copy{row("a-c", "default", "2026-03-01 03:00:00", ClassCompliance), row("b-1", "site-b", "2026-03-01 03:05:00", ClassDaily)})
	if len(got) != 1 || got[0].ID != "b-1" {
		t.Fatalf("promotions %v: site-b's rgz needs its own compliance copy", got)
	}
}
