package restore

import (
	"strings"
	"testing"

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
