package catalog

import (
	"context"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/mosaique/rgz-backup/internal/archive"
)

// TestConstantsMatchTheChecks reads the CHECK constraints of the migrated
// schema and compares each list of allowed values with the Go constants
// that write it: the SQL keeps its literals (it is the contract other
// programs read), and this test keeps the two from drifting apart.
func TestConstantsMatchTheChecks(t *testing.T) {
	t.Parallel()
	s, _ := migratedStore(t)
	strs := func(vs ...any) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = reflect.ValueOf(v).String()
		}
		return out
	}
	cases := []struct {
		table, column string
		want          []string
	}{
		{"backup_executions", "status", strs(StatusSuccess, StatusFailed, StatusPartial)},
		{"backup_executions", "restore_test_status", strs(TestSuccess, TestFailed, TestNotTested)},
		{"backup_executions", "triggered_by", strs(TriggerScheduled, TriggerCatchUp, TriggerManual, TriggerAPI)},
		{"backup_executions", "retention_class", strs(ClassDaily, ClassCompliance)},
		{"backup_executions", "compression_format", strs(archive.Gzip, archive.Zstd, archive.Bzip2, archive.None)},
		{"backup_restore_tests", "status", strs(TestRunning, TestSuccess, TestFailed)},
		{"backup_restore_tests", "triggered_by", strs(TriggerScheduled, TriggerManual, TriggerAPI)},
	}
	quoted := regexp.MustCompile(`'([^']*)'`)
	for _, c := range cases {
		var defs []string
		rows, err := s.pool.Query(context.Background(), `
			SELECT pg_get_constraintdef(c.oid)
			FROM pg_constraint c
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
			WHERE c.contype = 'c' AND c.conrelid = $1::regclass AND a.attname = $2`, c.table, c.column)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var def string
			if err := rows.Scan(&def); err != nil {
				t.Fatal(err)
			}
			defs = append(defs, def)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(defs) != 1 {
			t.Errorf("%s.%s: want one CHECK, found %q", c.table, c.column, defs)
			continue
		}
		var allowed []string
		for _, m := range quoted.FindAllStringSubmatch(defs[0], -1) {
			allowed = append(allowed, m[1])
		}
		slices.Sort(allowed)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(allowed, want) {
			t.Errorf("%s.%s: the CHECK allows %q, the Go constants are %q", c.table, c.column, allowed, want)
		}
	}
}
