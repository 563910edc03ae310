package restoretest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

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

func TestRotate(t *testing.T) {
	t.Parallel()
	at := func(day int) *time.Time { v := time.Date(2026, 11, day, 5, 0, 0, 0, time.UTC); return &v }
	row := func(db string, tested *time.Time) catalog.Execution {
		return catalog.Execution{Status: catalog.StatusSuccess, DatabaseName: &db, RestoreTestedAt: tested}
	}
	cases := []struct {
		name string
		rows []catalog.Execution
		want DB
	}{
		{"one database", []catalog.Execution{row("rgz", at(3)), row("rgz", nil)}, DB{"default", "rgz"}},
		// A database named like another server's: the pair decides, never a joined name.
		{"a name with a slash is not a target", []catalog.Execution{row("billing-db/rgz", at(3)),
			{Status: catalog.StatusSuccess, TargetName: "billing-db", DatabaseName: ptrTo("rgz"), RestoreTestedAt: at(4)}}, DB{"default", "billing-db/rgz"}},
		{"one never tested goes first", []catalog.Execution{row("rgz", at(3)), row("billing", nil), row("radius", at(1))}, DB{"default", "billing"}},
		{"else the one tested longest ago", []catalog.Execution{row("rgz", at(3)), row("billing", at(2)), row("billing", at(4)), row("radius", at(1))}, DB{"default", "radius"}},
		{"ties by name", []catalog.Execution{row("rgz", nil), row("billing", nil)}, DB{"default", "billing"}},
		{"failed backups do not count", []catalog.Execution{row("rgz", at(3)), {Status: catalog.StatusFailed, DatabaseName: ptrTo("billing")}}, DB{"default", "rgz"}},
		// Two servers may each have an rgz: each is a database of its own.
		{"a database of another server by its target", []catalog.Execution{row("rgz", at(3)),
			{Status: catalog.StatusSuccess, TargetName: "billing-db", DatabaseName: ptrTo("rgz"), RestoreTestedAt: at(2)}}, DB{"billing-db", "rgz"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, ok := Rotate(c.rows); !ok || got != c.want {
				t.Fatalf("got %+v %v, want %+v", got, ok, c.want)
			}
		})
	}
	if _, ok := Rotate(nil); ok {
		t.Fatal("a database chosen among none")
	}
}

func ptrTo(s string) *string { return &s }

// A target with a restore-test schedule of its own is tested on it, and
// left out of the environment's rotation.
func TestOfTargets(t *testing.T) {
	t.Parallel()
	row := func(target string) catalog.Execution { return catalog.Execution{ID: target, TargetName: target} }
	rows := []catalog.Execution{row("default"), row("site-b"), row("site-c")}
	ids := func(rs []catalog.Execution) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		target string
		skip   []string
		want   string
	}{
		{"", nil, "default,site-b,site-c"},
		{"site-b", nil, "site-b"},
		{"", []string{"site-b"}, "default,site-c"},
		{"nowhere", nil, ""},
	} {
		if got := ids(OfTargets(rows, c.target, c.skip)); got != c.want {
			t.Errorf("target %q skip %v: %s, want %s", c.target, c.skip, got, c.want)
		}
	}
}
