package pitrplan

import (
	"fmt"
	"slices"
	"time"

	"github.com/mosaique/rgz-backup/internal/wal"
)

// Kept is a base backup as retention sees it.
type Kept struct {
	ID        string
	Label     string
	Good      bool // succeeded (a failed one restores nothing)
	StartedAt time.Time
	Start     wal.LSN // replay starts here
}

// Retention is what retention deletes, and why it may refuse.
type Retention struct {
	Keep         []string      // base backups kept (IDs)
	DeleteBases  []string      // base backups deleted (IDs): older than the oldest kept
	DeleteBefore wal.Segment   // WAL files of segments before this one's number are deleted
	DeleteFiles  []wal.Segment // those of the files given
	Refused      string        // not "": nothing is deleted, and why
}

// Retain decides what the archive keeps at now: every good base backup
// started in the last days days, the newest one started before (which
// restores the window's first moments), always the newest good one, and
// the WAL from the lowest start of the kept ones on; older base backups (good
// or failed) and WAL go. Without a good base backup nothing goes. It
// refuses to delete more than half of the good base backups (an operator
// who looked may allow it).
func Retain(bases []Kept, files []wal.Segment, segSize int64, now time.Time, days int, allowMass bool) Retention {
	good := slices.DeleteFunc(slices.Clone(bases), func(b Kept) bool { return !b.Good })
	slices.SortFunc(good, func(a, b Kept) int { return a.StartedAt.Compare(b.StartedAt) })
	var r Retention
	if len(good) == 0 {
		return r
	}
	since := now.AddDate(0, 0, -days)
	oldest := len(good) - 1 // the newest is always kept
	for i := len(good) - 1; i >= 0; i-- {
		oldest = i
		if good[i].StartedAt.Before(since) {
			break // the newest before the window: kept, and the last
		}
	}
	keep := map[string]bool{}
	for _, b := range good[oldest:] {
		keep[b.ID] = true
		r.Keep = append(r.Keep, b.ID)
	}
	first := good[oldest]
	for _, b := range bases {
		if !keep[b.ID] && b.StartedAt.Before(first.StartedAt) {
			r.DeleteBases = append(r.DeleteBases, b.ID)
		}
	}
	// The WAL every kept base backup needs: from the lowest start among
	// them (a base backup of a later timeline may start below an older
	// one's, when a restored server went on).
	lowest := first.Start
	for _, b := range good[oldest:] {
		lowest = min(lowest, b.Start)
	}
	r.DeleteBefore = wal.SegmentOf(0, lowest, segSize)
	for _, f := range files {
		if f.No < r.DeleteBefore.No {
			r.DeleteFiles = append(r.DeleteFiles, f)
		}
	}
	if goodDeleted := len(good) - len(r.Keep); goodDeleted*2 > len(good) && !allowMass {
		r.Refused = fmt.Sprintf("retention would delete %d of the %d good base backups (more than half): refused; look at the archive, then allow it",
			goodDeleted, len(good))
	}
	return r
}
