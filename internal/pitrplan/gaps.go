package pitrplan

import (
	"fmt"
	"slices"

	"github.com/mosaique/rgz-backup/internal/wal"
)

// Gap is WAL the archive lacks: from the start of segment From (or the
// end of its partial copy, when the archive holds only that) to the start
// of segment To, along the newest timeline's path.
type Gap struct {
	From, To wal.LSN
	// Healed: a good base backup starts after the gap, so the moments
	// after that base backup restore again (those in the gap never will).
	Healed bool
	// Known: the first base backup after the gap was taken because the
	// slot was lost or made again: the loss was told when it happened.
	Known bool
}

func (g Gap) String() string {
	s := fmt.Sprintf("WAL from %s to %s", g.From, g.To)
	if g.Known {
		s += " (a lost slot, told when it happened)"
	}
	return s
}

// Gaps are the stretches of WAL the archive lacks between its oldest good
// base backup's start and its newest whole segment, along the path of the newest
// timeline that descends from that base backup: a continuous archive has
// none. A partial copy that is not the last file is a gap too: the rest
// of its segment is missing.
func (a Archive) Gaps() []Gap {
	if len(a.Bases) == 0 || len(a.Files) == 0 {
		return nil
	}
	oldest := slices.MinFunc(a.Bases, func(x, y Base) int { return cmpLSN(x.Start, y.Start) })
	path := a.Latest(oldest.Timeline, oldest.Start)
	have := map[wal.Segment]File{}
	var last uint64
	for _, f := range a.Files {
		if old, ok := have[f.Segment]; !ok || old.Partial && !f.Partial {
			have[f.Segment] = f
		}
		// The archive's end is its newest whole segment: a partial copy
		// past it may be shipped before the segment before it is (the
		// partial copy has its own timer), and is no gap.
		if path.Holds(f.Segment.Timeline) && !f.Partial {
			last = max(last, f.Segment.No)
		}
	}
	var gaps []Gap
	open := func(from wal.LSN) {
		if n := len(gaps); n > 0 && gaps[n-1].To == from {
			return // extends the open gap
		}
		gaps = append(gaps, Gap{From: from})
	}
	first := uint64(oldest.Start) / uint64(a.SegSize)
	for no := first; no <= last; no++ {
		seg := path.SegmentFile(no, a.SegSize)
		f, ok := have[seg]
		switch {
		case !ok:
			open(seg.Start(a.SegSize))
			gaps[len(gaps)-1].To = seg.End(a.SegSize)
		case f.Partial && no < last:
			open(f.End)
			gaps[len(gaps)-1].To = seg.End(a.SegSize)
		}
	}
	for i, g := range gaps {
		// The first base backup after the gap was taken because of it.
		var next *Base
		for j, b := range a.Bases {
			if b.Start >= g.From && (next == nil || b.Start < next.Start) {
				next = &a.Bases[j]
			}
		}
		gaps[i].Healed = next != nil
		gaps[i].Known = next != nil && next.AfterLoss
	}
	return gaps
}

func cmpLSN(x, y wal.LSN) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
