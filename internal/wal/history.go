package wal

import (
	"fmt"
	"strconv"
	"strings"
)

// Switch is one line of a timeline history file: timeline Parent ended at
// At, where its child began.
type Switch struct {
	Parent uint32
	At     LSN
}

// ParseHistory reads timeline tli's history file ("00000003.history"):
// one line per ancestor, "PARENT_TLI<tab>SWITCH_LSN<tab>reason", oldest
// first; '#' starts a comment. The timelines must increase, each below
// tli, and the switch points must not go back.
func ParseHistory(tli uint32, content string) ([]Switch, error) {
	var out []Switch
	for i, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s line %d: want a timeline and an LSN", HistoryName(tli), i+1)
		}
		parent, err := strconv.ParseUint(fields[0], 10, 32)
		if err != nil || parent == 0 || uint32(parent) >= tli {
			return nil, fmt.Errorf("%s line %d: %q is not a parent timeline of %d", HistoryName(tli), i+1, fields[0], tli)
		}
		at, err := ParseLSN(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", HistoryName(tli), i+1, err)
		}
		if n := len(out); n > 0 && (uint32(parent) <= out[n-1].Parent || at < out[n-1].At) {
			return nil, fmt.Errorf("%s line %d: timelines and switch points must increase", HistoryName(tli), i+1)
		}
		out = append(out, Switch{Parent: uint32(parent), At: at})
	}
	return out, nil
}

// Path is the line of timelines recovery follows to reach one timeline:
// its history, then the timeline itself.
type Path struct {
	Timeline uint32
	History  []Switch // from ParseHistory; none for timeline 1
}

// TimelineAt is the timeline that holds lsn on the path: the parent whose
// switch point lsn has not reached yet, else the path's own.
func (p Path) TimelineAt(lsn LSN) uint32 {
	for _, s := range p.History {
		if lsn < s.At {
			return s.Parent
		}
	}
	return p.Timeline
}

// Holds says whether timeline tli is on the path: its own, or one it
// descends from.
func (p Path) Holds(tli uint32) bool {
	if tli == p.Timeline {
		return true
	}
	for _, s := range p.History {
		if s.Parent == tli {
			return true
		}
	}
	return false
}

// SegmentFile is which file recovery reads segment number no from: the
// newest timeline of the path that had begun by the segment's end. The
// segment where a timeline began is read from that timeline's file, which
// holds the parent's WAL up to the switch and the child's after it.
func (p Path) SegmentFile(no uint64, size int64) Segment {
	tli := p.Timeline
	for i := len(p.History) - 1; i >= 0; i-- {
		begin := SegmentOf(0, p.History[i].At, size).No // where the child of History[i].Parent began
		if no >= begin {
			break
		}
		tli = p.History[i].Parent
	}
	return Segment{Timeline: tli, No: no}
}

// Reach is how far recovery can replay along the path from LSN from:
// segment after segment while the archive has each one. have says whether
// it has a segment, and up to where (its End for a whole segment; less for
// a partial copy of the one still being written, after which nothing can
// follow). Reach returns from itself when the first segment is missing.
func (p Path) Reach(from LSN, size int64, have func(Segment) (end LSN, ok bool)) LSN {
	reached := from
	for no := uint64(from) / uint64(size); ; no++ {
		seg := p.SegmentFile(no, size)
		end, ok := have(seg)
		if !ok {
			return reached
		}
		if end > reached {
			reached = end
		}
		if end < seg.End(size) {
			return reached // a partial segment: the archive ends inside it
		}
	}
}
