package restore

import (
	"fmt"
	"sort"

	"github.com/mosaique/rgz-backup/internal/toc"
)

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
