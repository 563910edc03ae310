// Package restoretest proves that a backup restores: it chooses the
// backup, restores it into a scratch database of its own (package
// restore: checksums first, pg_restore, comparison with what the backup
// recorded, ANALYZE), runs amcheck over every btree index, records the
// outcome, and drops the scratch database.
//
// The decisions (which backup, what differs) are plain functions here; the
// run in run.go does the I/O.
package restoretest

import (
	"cmp"
	"slices"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// ScratchPrefix starts every scratch database's name; nothing else is ever
// created or dropped.
const ScratchPrefix = "rgz_restore_test_"

// ScratchName is the scratch database of the test id started at t. The
// second says when; the id's first eight characters keep two tests started
// in the same second on one server (a CLI test beside the daemon's, or
// tests of two databases) from meeting on one name.
func ScratchName(t time.Time, id string) string {
	return ScratchPrefix + t.UTC().Format("20060102_150405") + "_" + id[:min(8, len(id))]
}

// Choose picks the backup to test: the good one (success or partial, still
// on disk) whose age is closest to ageDays; the newest when none is that
// old. false when there is none.
func Choose(rows []catalog.Execution, now time.Time, ageDays int) (catalog.Execution, bool) {
	target := now.AddDate(0, 0, -ageDays)
	var best catalog.Execution
	found, oldEnough := false, false
	for _, r := range rows {
		if !r.Status.Good() || r.DeletedAt != nil {
			continue
		}
		if !r.BackupDate.After(target) {
			oldEnough = true
		}
		if !found || abs(r.BackupDate.Sub(target)) < abs(best.BackupDate.Sub(target)) {
			best, found = r, true
		}
	}
	if found && !oldEnough { // all younger than the age asked: the newest
		for _, r := range rows {
			if r.Status.Good() && r.DeletedAt == nil && r.BackupDate.After(best.BackupDate) {
				best = r
			}
		}
	}
	return best, found
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Rotate picks the database whose turn it is to be tested, when one
// service backs up several: among those with a good backup in rows, the
// one whose newest restore test is the oldest — one never tested first,
// then by name — so that each is tested in turn.
func Rotate(rows []catalog.Execution) (DB, bool) {
	last := map[DB]*time.Time{} // database → its newest restore test
	for _, r := range rows {
		if !r.Status.Good() || r.DeletedAt != nil {
			continue
		}
		db := databaseOf(r)
		t, seen := last[db]
		if !seen || (r.RestoreTestedAt != nil && (t == nil || r.RestoreTestedAt.After(*t))) {
			last[db] = r.RestoreTestedAt
		}
	}
	var pick DB
	found := false
	for db, t := range last {
		if !found || turnFirst(db, t, pick, last[pick]) {
			pick, found = db, true
		}
	}
	return pick, found
}

// turnFirst says whether database a, newest test ta (nil: never), is to
// be tested before b.
func turnFirst(a DB, ta *time.Time, b DB, tb *time.Time) bool {
	switch {
	case (ta == nil) != (tb == nil):
		return ta == nil
	case ta != nil && !ta.Equal(*tb):
		return ta.Before(*tb)
	case a.Target != b.Target:
		return a.Target < b.Target
	}
	return a.Name < b.Name
}

// DB is one database of one target: two servers may each have an rgz,
// and a database's name may hold any byte ('/' included), so a database
// is the pair, never a joined string.
type DB struct{ Target, Name string }

// String names it for people: NAME on the default target, else
// TARGET/NAME.
func (d DB) String() string {
	if d.Target == catalog.DefaultTarget {
		return d.Name
	}
	return d.Target + "/" + d.Name
}

// OfDatabase keeps the rows of one database.
func OfDatabase(rows []catalog.Execution, db DB) []catalog.Execution {
	var out []catalog.Execution
	for _, r := range rows {
		if databaseOf(r) == db {
			out = append(out, r)
		}
	}
	return out
}

// OfTargets are the rows of target (empty: any), less those of skip.
func OfTargets(rows []catalog.Execution, target string, skip []string) []catalog.Execution {
	if target == "" && len(skip) == 0 {
		return rows
	}
	var out []catalog.Execution
	for _, r := range rows {
		if (target == "" || r.TargetName == target) && !slices.Contains(skip, r.TargetName) {
			out = append(out, r)
		}
	}
	return out
}

// databaseOf names a row's database as rotation and --database do:
// DATABASE on the environment's server, TARGET/DATABASE on another.
func databaseOf(r catalog.Execution) DB {
	db := DB{Target: cmp.Or(r.TargetName, catalog.DefaultTarget)}
	if r.DatabaseName != nil {
		db.Name = *r.DatabaseName
	}
	return db
}
