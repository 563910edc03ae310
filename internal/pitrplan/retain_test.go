package pitrplan

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/wal"
)

func TestRetain(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	base := func(id string, ago time.Duration, segNo uint64, good bool) Kept {
		return Kept{ID: id, Label: id, Good: good, StartedAt: now.Add(-ago), Start: wal.LSN(segNo*seg + 0x28)}
	}
	segs := func(from, to uint64) []wal.Segment {
		var out []wal.Segment
		for no := from; no <= to; no++ {
			out = append(out, wal.Segment{Timeline: 1, No: no})
		}
		return out
	}
	bases := []Kept{base("w0", 4*week, 2, true), base("w1", 3*week, 10, true), base("f", 3*week-time.Hour, 11, false),
		base("w2", 2*week+time.Hour, 20, true), base("w3", week, 30, true), base("w4", 0, 40, true)}
	r := Retain(bases, segs(2, 45), seg, now, 14, false)
	// Kept: w3, w4 inside 14 days, w2 the newest before: its WAL from segment 20.
	if !slices.Equal(r.Keep, []string{"w2", "w3", "w4"}) || !slices.Equal(r.DeleteBases, []string{"w0", "w1", "f"}) ||
		r.DeleteBefore.No != 20 || len(r.DeleteFiles) != 18 || r.Refused != "" {
		t.Fatalf("%+v", r)
	}
	// Never the newest, even when old; nothing without a good one.
	old := []Kept{base("a", 10*week, 2, true), base("b", 9*week, 5, true)}
	if r := Retain(old, segs(2, 9), seg, now, 14, false); !slices.Equal(r.Keep, []string{"b"}) || r.DeleteBefore.No != 5 {
		t.Fatalf("old archive: %+v", r)
	}
	if r := Retain([]Kept{base("f", 10*week, 2, false)}, segs(2, 9), seg, now, 14, false); len(r.DeleteBases)+len(r.DeleteFiles) != 0 {
		t.Fatalf("no good base backup: %+v", r)
	}
	// More than half of the good ones: refused unless allowed.
	many := []Kept{base("a", 10*week, 2, true), base("b", 9*week, 5, true), base("c", 8*week, 8, true), base("e", 7*week, 8, true), base("d", 0, 9, true)}
	if r := Retain(many, nil, seg, now, 14, false); !strings.Contains(r.Refused, "3 of the 5") {
		t.Fatalf("mass deletion: %+v", r)
	}
	if r := Retain(many, nil, seg, now, 14, true); r.Refused != "" || len(r.DeleteBases) != 3 {
		t.Fatalf("mass deletion allowed: %+v", r)
	}
}

// A base backup of a later timeline that starts below an older one's
// start keeps its WAL.
func TestRetainKeepsTheLowestStart(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	bases := []Kept{
		{ID: "tl1", Good: true, StartedAt: now.Add(-20 * 24 * time.Hour), Start: wal.LSN(2*seg + 0x28)},
		{ID: "tl1-late", Good: true, StartedAt: now.Add(-15 * 24 * time.Hour), Start: wal.LSN(30 * seg)},
		{ID: "tl2", Good: true, StartedAt: now.Add(-5 * 24 * time.Hour), Start: wal.LSN(12 * seg)},
	}
	r := Retain(bases, nil, seg, now, 14, false)
	if r.DeleteBefore.No != 12 {
		t.Fatalf("%+v: WAL before segment %d deleted, want 12 (tl2's start)", r, r.DeleteBefore.No)
	}
}
