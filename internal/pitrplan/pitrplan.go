// Package pitrplan decides, from what a point-in-time recovery archive
// holds (base backups, WAL files, timeline histories), what it can
// restore: the restorable window of each base backup, and for a target
// the base backup to start from. Pure: the catalog or the places'
// listings give the facts, docs/PITR.md says the rules.
package pitrplan

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/wal"
)

// Base is a good base backup.
type Base struct {
	Label      string
	Key        string
	Timeline   uint32
	Start, End wal.LSN   // replay starts at Start; the copy is consistent at End
	Finished   time.Time // when it ended: its consistent point had been written by then
	// How it is stored, as the catalog recorded it.
	Format       string
	Encrypted    bool
	StoredSHA256 string
	// AfterLoss: taken because the slot was lost or made again: the WAL
	// before it may have a gap, known and told when it happened.
	AfterLoss bool
}

// File is a WAL file the archive holds: a whole segment, or a partial
// copy of the one being written (End: how far it goes).
type File struct {
	Segment wal.Segment
	End     wal.LSN
	Partial bool
	Key     string
	Shipped time.Time
}

// Archive is what one cluster's archive holds.
type Archive struct {
	SegSize   int64
	Bases     []Base
	Files     []File
	Histories map[uint32][]wal.Switch // by timeline: its history file, parsed
}

// Window is what one base backup restores: any moment from From (its
// consistent point) to To (the end of the WAL that follows it without a
// gap), along the newest timeline that descends from it. A zero To is an
// end the archive does not know (read from the places' listings, without
// the catalog: no shipping times, and a partial copy's End is its
// segment's); PostgreSQL then refuses a target its WAL does not reach.
type Window struct {
	Base           Base
	Timeline       uint32 // where To is
	FromLSN, ToLSN wal.LSN
	From, To       time.Time
	EndsInPartial  bool // To is in a partial copy of the segment being written
}

// Latest is the newest timeline whose history branches from tli at or
// after from (tli itself when none does): what recovery from a base
// backup of tli that starts at from follows by default. A timeline that
// left tli before from is not on that base backup's path.
func (a Archive) Latest(tli uint32, from wal.LSN) wal.Path {
	best := wal.Path{Timeline: tli, History: a.Histories[tli]}
	for t, hist := range a.Histories {
		if t <= best.Timeline {
			continue
		}
		for _, s := range hist {
			if s.Parent == tli && s.At >= from {
				best = wal.Path{Timeline: t, History: hist}
				break
			}
		}
	}
	return best
}

// Windows are the windows of every base backup whose WAL the archive
// holds to its consistent point, oldest base backup first.
func (a Archive) Windows() []Window {
	have := map[wal.Segment]File{}
	for _, f := range a.Files {
		if old, ok := have[f.Segment]; !ok || old.Partial && !f.Partial {
			have[f.Segment] = f
		}
	}
	var out []Window
	bases := slices.Clone(a.Bases)
	slices.SortFunc(bases, func(x, y Base) int { return x.Finished.Compare(y.Finished) })
	for _, b := range bases {
		path := a.Latest(b.Timeline, b.Start)
		var last File
		reach := path.Reach(b.Start, a.SegSize, func(s wal.Segment) (wal.LSN, bool) {
			f, ok := have[s]
			if !ok {
				return 0, false
			}
			last = f
			if f.Partial {
				return f.End, true
			}
			return s.End(a.SegSize), true
		})
		if reach < b.End {
			continue // the archive lacks WAL the copy needs to be consistent
		}
		w := Window{Base: b, Timeline: path.TimelineAt(reach), FromLSN: b.End, ToLSN: reach, From: b.Finished,
			To: last.Shipped, EndsInPartial: last.Partial}
		if !w.To.IsZero() && w.To.Before(w.From) {
			w.To = w.From
		}
		out = append(out, w)
	}
	return out
}

// Target is where a restore stops: a moment, an LSN, or the end of the
// archive (Latest).
type Target struct {
	Time   time.Time
	LSN    wal.LSN
	Latest bool
}

func (t Target) String() string {
	switch {
	case t.Latest:
		return "latest"
	case t.LSN != 0:
		return "LSN " + t.LSN.String()
	}
	return t.Time.UTC().Format(time.RFC3339)
}

// ErrOutside is Choose's error for a target no window holds.
var ErrOutside = errors.New("the target is outside the restorable window")

// ErrNothing is Choose's error for an archive with no restorable base
// backup.
var ErrNothing = errors.New("the archive holds no restorable base backup")

// Choose is the window to restore target from: the newest base backup
// whose window holds it (the least WAL to replay).
func Choose(windows []Window, target Target) (Window, error) {
	if len(windows) == 0 {
		return Window{}, ErrNothing
	}
	for i := len(windows) - 1; i >= 0; i-- {
		w := windows[i]
		switch {
		case target.Latest:
			return windows[len(windows)-1], nil
		case target.LSN != 0 && target.LSN >= w.FromLSN && target.LSN <= w.ToLSN:
			return w, nil
		case target.LSN == 0 && !target.Time.Before(w.From) && (w.To.IsZero() || !target.Time.After(w.To)):
			return w, nil
		}
	}
	return Window{}, fmt.Errorf("%w: %s; the archive restores %s", ErrOutside, target, Describe(windows))
}

// Describe says what the windows cover, for a person: "from … to … (base
// backup …)", oldest first.
func Describe(windows []Window) string {
	var parts []string
	for _, w := range windows {
		parts = append(parts, fmt.Sprintf("from %s to %s (LSN %s to %s, timeline %d, base backup %s)",
			w.From.UTC().Format(time.RFC3339), EndText(w), w.FromLSN, w.ToLSN, w.Timeline, w.Base.Label))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// EndText is a window's end for a person: its time, or that it is not
// known.
func EndText(w Window) string {
	if w.To.IsZero() {
		return "the end of its WAL (time unknown without the catalog)"
	}
	return w.To.UTC().Format(time.RFC3339)
}
