package pitrplan

import (
	"testing"

	"github.com/mosaique/rgz-backup/internal/wal"
)

func TestGaps(t *testing.T) {
	t.Parallel()
	base := Base{Label: "b1", Timeline: 1, Start: 2*seg + 0x28, End: 2*seg + 0x100, Finished: t0}
	afterLoss := Base{Label: "b2", Timeline: 1, Start: 6*seg + 0x28, End: 6*seg + 0x100, AfterLoss: true}
	partial := func(tli uint32, no uint64, end wal.LSN) File {
		return File{Segment: wal.Segment{Timeline: tli, No: no}, End: end, Partial: true}
	}
	for _, tc := range []struct {
		name string
		a    Archive
		gaps []Gap
	}{
		{"continuous, to a partial copy", Archive{SegSize: seg, Bases: []Base{base},
			Files: []File{whole(1, 2, 0), whole(1, 3, 0), partial(1, 4, 4*seg+0x500)}}, nil},
		{"a missing segment", Archive{SegSize: seg, Bases: []Base{base},
			Files: []File{whole(1, 2, 0), whole(1, 4, 0), whole(1, 5, 0)}}, []Gap{{From: 3 * seg, To: 4 * seg}}},
		{"two missing in a row are one gap", Archive{SegSize: seg, Bases: []Base{base},
			Files: []File{whole(1, 2, 0), whole(1, 5, 0)}}, []Gap{{From: 3 * seg, To: 5 * seg}}},
		{"a partial copy in the middle: the rest of its segment is missing", Archive{SegSize: seg, Bases: []Base{base},
			Files: []File{whole(1, 2, 0), partial(1, 3, 3*seg+0x500), whole(1, 6, 0)}}, []Gap{{From: 3*seg + 0x500, To: 6 * seg}}},
		{"a lost slot, healed by a base backup: known", Archive{SegSize: seg, Bases: []Base{base, afterLoss},
			Files: []File{whole(1, 2, 0), partial(1, 3, 3*seg+0x500), whole(1, 6, 0), whole(1, 7, 0)}}, []Gap{{From: 3*seg + 0x500, To: 6 * seg, Healed: true, Known: true}}},
		{"an older gap is not the loss's", Archive{SegSize: seg, Bases: []Base{base, {Label: "b3", Timeline: 1, Start: 4*seg + 0x28, End: 4*seg + 0x100}, afterLoss},
			Files: []File{whole(1, 2, 0), whole(1, 4, 0), partial(1, 5, 5*seg+0x500), whole(1, 6, 0)}},
			[]Gap{{From: 3 * seg, To: 4 * seg, Healed: true}, {From: 5*seg + 0x500, To: 6 * seg, Healed: true, Known: true}}},
		{"across a timeline switch: the new timeline's files", Archive{SegSize: seg, Bases: []Base{base},
			Histories: map[uint32][]wal.Switch{2: {{Parent: 1, At: 3*seg + 0x100}}},
			Files:     []File{whole(1, 2, 0), whole(1, 3, 0), whole(2, 3, 0), whole(2, 4, 0)}}, nil},
		{"nothing archived", Archive{SegSize: seg, Bases: []Base{base}}, nil},
		{"the current segment's partial copy shipped before the segment before it", Archive{SegSize: seg, Bases: []Base{base},
			Files: []File{whole(1, 2, 0), partial(1, 4, 4*seg+0x500)}}, nil},
	} {
		got := tc.a.Gaps()
		if len(got) != len(tc.gaps) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.gaps)
			continue
		}
		for i := range got {
			if got[i] != tc.gaps[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.gaps)
			}
		}
	}
}
