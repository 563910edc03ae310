// Package restoretest proves that a backup restores: it verifies the
// file's checksums, restores it into a scratch database with parallel
// pg_restore, compares the copy with what the backup recorded (tables,
// exact row counts, objects), runs ANALYZE and amcheck over every btree
// index, records the outcome, and drops the scratch database. The
// disaster-recovery restore (restore.go) takes the same steps into a
// named database, with or without the catalog.
//
// The decisions (which backup, what differs) are plain functions here; the
// run in run.go does the I/O.
package restoretest

import (
	"fmt"
	"sort"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/toc"
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

// CompareRows lists how the restored copy's tables and exact row counts
// differ from those counted in the backup's snapshot.
func CompareRows(recorded, restored map[string]int64) []string {
	var out []string
	for _, table := range sortedKeys(recorded) {
		got, ok := restored[table]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("table %s is missing from the restored copy", table))
		case got != recorded[table]:
			out = append(out, fmt.Sprintf("table %s has %d rows, the backup's snapshot had %d", table, got, recorded[table]))
		}
	}
	for _, table := range sortedKeys(restored) {
		if _, ok := recorded[table]; !ok {
			out = append(out, fmt.Sprintf("table %s is in the restored copy but not in the backup's counts", table))
		}
	}
	return out
}

// CompareObjects lists how the restored copy's schema objects (counted
// from a schema-only dump of it) differ from the archive's.
func CompareObjects(recorded, restored toc.Counts) []string {
	var out []string
	for _, c := range []struct {
		what      string
		want, got int
	}{
		{"schemas", recorded.Schemas, restored.Schemas},
		{"tables", recorded.Tables, restored.Tables},
		{"indexes", recorded.Indexes, restored.Indexes},
		{"constraints", recorded.Constraints, restored.Constraints},
		{"foreign keys", recorded.ForeignKeys, restored.ForeignKeys},
		{"triggers", recorded.Triggers, restored.Triggers},
		{"sequences", recorded.Sequences, restored.Sequences},
		{"functions", recorded.Functions, restored.Functions},
		{"views", recorded.Views, restored.Views},
		{"materialized views", recorded.MaterializedViews, restored.MaterializedViews},
	} {
		if c.want != c.got {
			out = append(out, fmt.Sprintf("%d %s in the restored copy, %d in the backup", c.got, c.what, c.want))
		}
	}
	return out
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
