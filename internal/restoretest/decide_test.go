package restoretest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/toc"
)

func TestRoomToDecompress(t *testing.T) {
	t.Parallel()
	const gib = 1 << 30
	for _, tc := range []struct {
		free, raw uint64
		want      bool
	}{
		{10 * gib, 1 * gib, true},
		{2*gib + gib/10, gib, true}, // the raw size, 10 % and 1 GiB
		{2*gib + gib/10 - 1, gib, false},
		{gib - 1, 0, false},
		{0, 0, false},
	} {
		if got := RoomToDecompress(tc.free, tc.raw); got != tc.want {
			t.Errorf("RoomToDecompress(%d, %d) = %v", tc.free, tc.raw, got)
		}
	}
}

func TestChoose(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	at := func(daysAgo int, status catalog.Status) catalog.Execution {
		return catalog.Execution{Filename: fmt.Sprint(daysAgo, "d"), BackupDate: now.AddDate(0, 0, -daysAgo), Status: status}
	}
	deleted := at(7, "success")
	deleted.DeletedAt = &now
	tests := []struct {
		name string
		rows []catalog.Execution
		want string
	}{
		{"closest to 7 days", []catalog.Execution{at(1, "success"), at(6, "success"), at(9, "success")}, "6d"},
		{"failed and deleted ones are never tested", []catalog.Execution{at(7, "failed"), deleted, at(10, "success"), at(2, "success")}, "10d"},
		{"partial backups are good backups", []catalog.Execution{at(7, "partial"), at(1, "success")}, "7d"},
		{"none that old: the newest", []catalog.Execution{at(3, "success"), at(1, "success"), at(2, "success")}, "1d"},
		{"none at all", []catalog.Execution{at(7, "failed")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Choose(tt.rows, now, 7)
			if ok != (tt.want != "") || got.Filename != tt.want {
				t.Fatalf("chose %q (%v), want %q", got.Filename, ok, tt.want)
			}
		})
	}
}

func TestCompareRows(t *testing.T) {
	t.Parallel()
	recorded := map[string]int64{"public.invoices": 10, "public.subscribers": 5, "public.incidents": 2}
	restored := map[string]int64{"public.invoices": 10, "public.subscribers": 4, "public.extra": 1}
	got := strings.Join(CompareRows(recorded, restored), "\n")
	for _, want := range []string{"public.incidents is missing", "public.subscribers has 4 rows, the backup's snapshot had 5", "public.extra is in the restored copy"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "invoices") {
		t.Errorf("equal tables reported:\n%s", got)
	}
	if len(CompareRows(recorded, recorded)) != 0 {
		t.Error("identical counts reported")
	}
}

func TestCompareObjects(t *testing.T) {
	t.Parallel()
	a := toc.Counts{Tables: 7, Indexes: 12, Triggers: 2, Sequences: 3, Functions: 4, TableData: 7, Entries: 80}
	b := a
	b.TableData, b.Entries = 0, 40 // a schema-only listing has no data entries: not a difference
	if d := CompareObjects(a, b); len(d) != 0 {
		t.Fatalf("%v", d)
	}
	b.Triggers, b.Indexes = 1, 11
	if d := CompareObjects(a, b); len(d) != 2 || !strings.Contains(d[0], "11 indexes") || !strings.Contains(d[1], "1 triggers") {
		t.Fatalf("%v", d)
	}
}

func TestScratchName(t *testing.T) {
	t.Parallel()
	if got := ScratchName(time.Date(2026, 2, 12, 2, 0, 5, 0, time.UTC), "3f2a9c1e-77d0-4b4e-9d1a-0c8e2b5f6a10"); got != "rgz_restore_test_20260212_020005_3f2a9c1e" {
		t.Fatal(got)
	}
}

func TestRoomProblemSaysWhatIsNeeded(t *testing.T) {
	t.Parallel()
	if err := RoomProblem(10e9, 6e9, "/var/lib/postgresql/15/main"); err != nil {
		t.Fatal(err)
	}
	err := RoomProblem(2e9, 6e9, "/var/lib/postgresql/15/main")
	if err == nil || !strings.Contains(err.Error(), "needs about 6.00 GB") || !strings.Contains(err.Error(), "free 4.00 GB there") {
		t.Fatalf("%v", err)
	}
}
