package pitrplan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/wal"
)

const seg = wal.DefaultSegmentSize

var t0 = time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)

func whole(tli uint32, no uint64, shipped time.Duration) File {
	return File{Segment: wal.Segment{Timeline: tli, No: no}, Shipped: t0.Add(shipped)}
}

func TestWindowsAndChoose(t *testing.T) {
	t.Parallel()
	base := Base{Label: "b1", Timeline: 1, Start: 2*seg + 0x28, End: 2*seg + 0x100, Finished: t0}
	later := Base{Label: "b2", Timeline: 1, Start: 4*seg + 0x28, End: 4*seg + 0x100, Finished: t0.Add(time.Hour)}
	partial := File{Segment: wal.Segment{Timeline: 1, No: 5}, End: 5*seg + 0x5000, Partial: true, Shipped: t0.Add(2 * time.Hour)}
	a := Archive{SegSize: seg, Bases: []Base{later, base},
		Files: []File{whole(1, 2, time.Minute), whole(1, 3, 30*time.Minute), whole(1, 4, 70*time.Minute), partial}}
	ws := a.Windows()
	if len(ws) != 2 || ws[0].Base.Label != "b1" || ws[0].ToLSN != 5*seg+0x5000 || !ws[0].EndsInPartial || !ws[0].To.Equal(t0.Add(2*time.Hour)) ||
		ws[0].FromLSN != base.End || !ws[0].From.Equal(t0) || ws[0].Timeline != 1 {
		t.Fatalf("%+v", ws)
	}
	for _, tc := range []struct {
		target Target
		want   string
	}{
		{Target{Time: t0.Add(10 * time.Minute)}, "b1"},
		{Target{Time: t0.Add(90 * time.Minute)}, "b2"},
		{Target{LSN: 3*seg + 5}, "b1"},
		{Target{Latest: true}, "b2"},
	} {
		w, err := Choose(ws, tc.target)
		if err != nil || w.Base.Label != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.target, w.Base.Label, err, tc.want)
		}
	}
	for _, target := range []Target{{Time: t0.Add(-time.Minute)}, {Time: t0.Add(3 * time.Hour)}, {LSN: 6 * seg}} {
		_, err := Choose(ws, target)
		if !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), "base backup b1") || !strings.Contains(err.Error(), "2026-12-06T01:00:00Z") {
			t.Errorf("%s: %v", target, err)
		}
	}

	// A gap after a base backup ends its window there; one before its
	// consistent point leaves it out.
	gap := Archive{SegSize: seg, Bases: []Base{base, later}, Files: []File{whole(1, 2, time.Minute), whole(1, 4, 70*time.Minute), partial}}
	ws = gap.Windows()
	if len(ws) != 2 || ws[0].ToLSN != 3*seg || ws[0].EndsInPartial || ws[1].ToLSN != 5*seg+0x5000 {
		t.Fatalf("with a gap: %+v", ws)
	}
	none := Archive{SegSize: seg, Bases: []Base{base}, Files: []File{whole(1, 3, time.Minute)}}
	if _, err := Choose(none.Windows(), Target{Latest: true}); !errors.Is(err, ErrNothing) {
		t.Fatalf("no WAL for the base backup: %v", err)
	}
}

// After a promotion, the window follows the new timeline: the segment of
// the switch is read from the new timeline's file.
func TestWindowAcrossATimelineSwitch(t *testing.T) {
	t.Parallel()
	base := Base{Label: "b1", Timeline: 1, Start: 2*seg + 0x28, End: 2*seg + 0x100, Finished: t0}
	a := Archive{SegSize: seg, Bases: []Base{base},
		Histories: map[uint32][]wal.Switch{2: {{Parent: 1, At: 3*seg + 0x800}}},
		Files:     []File{whole(1, 2, time.Minute), whole(1, 3, 2*time.Minute), whole(2, 3, 3*time.Minute), whole(2, 4, 4*time.Minute)}}
	ws := a.Windows()
	if len(ws) != 1 || ws[0].Timeline != 2 || ws[0].ToLSN != 5*seg {
		t.Fatalf("%+v", ws)
	}
}

// Without the catalog, the end's time is unknown: any time after the
// base backup is tried (PostgreSQL refuses one its WAL does not reach).
func TestWindowWithoutShippingTimes(t *testing.T) {
	t.Parallel()
	base := Base{Label: "b1", Timeline: 1, Start: 2*seg + 0x28, End: 2*seg + 0x100, Finished: t0}
	a := Archive{SegSize: seg, Bases: []Base{base}, Files: []File{{Segment: wal.Segment{Timeline: 1, No: 2}},
		{Segment: wal.Segment{Timeline: 1, No: 3}, End: 4 * seg, Partial: true}}}
	ws := a.Windows()
	if len(ws) != 1 || !ws[0].To.IsZero() || !ws[0].EndsInPartial {
		t.Fatalf("%+v", ws)
	}
	if _, err := Choose(ws, Target{Time: t0.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Choose(ws, Target{Time: t0.Add(-time.Second)}); !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), "time unknown") {
		t.Fatal(err)
	}
}

// A timeline that left the base backup's before it started is not on its
// path: its window stays on its own timeline.
func TestWindowIgnoresAnEarlierBranch(t *testing.T) {
	t.Parallel()
	base := Base{Label: "b", Timeline: 1, Start: 5*seg + 0x28, End: 5*seg + 0x100, Finished: t0}
	a := Archive{SegSize: seg, Bases: []Base{base},
		Histories: map[uint32][]wal.Switch{2: {{Parent: 1, At: 3*seg + 0x800}}},
		Files:     []File{whole(1, 5, time.Minute), whole(1, 6, 2*time.Minute), whole(2, 5, 3*time.Minute), whole(2, 6, 4*time.Minute), whole(2, 7, 4*time.Minute)}}
	ws := a.Windows()
	if len(ws) != 1 || ws[0].Timeline != 1 || ws[0].ToLSN != 7*seg {
		t.Fatalf("%+v", ws)
	}
}
