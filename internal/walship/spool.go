// Package walship ships the write-ahead log that pg_receivewal writes into
// a local spool to the archive's places (issue 28, docs/PITR.md): each
// finished segment and timeline history file is checked (a segment's page
// header says it is that segment of that cluster), compressed, encrypted
// when recipients are set, copied with every destination's verified Put,
// recorded, and only then removed from the spool. The segment still being
// written is copied too, as a partial segment, so that a quiet server's
// last minutes are not only on this host.
package walship

import (
	"cmp"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/mosaique/rgz-backup/internal/wal"
)

// File is one file of the spool that the archive takes.
type File struct {
	Name     string // as in the spool, checked: a segment's or a history's name
	Segment  wal.Segment
	History  bool // a timeline history file (Segment.Timeline is its timeline)
	Partial  bool // the segment pg_receivewal is still writing
	Timeline uint32
}

// Spool is what a listing of the spool holds, in shipping order.
type Spool struct {
	// Ready are the finished files, history files first (recovery needs a
	// timeline's history before its segments), then segments by timeline
	// and number.
	Ready []File
	// Partial is the segment being written (the newest .partial), if any.
	Partial *File
	// Strangers are names that are neither: reported, never shipped,
	// never deleted (someone else's file, or a newer PostgreSQL's).
	Strangers []string
}

// Read sorts a listing of the spool's names (segSize: the server's
// wal_segment_size). Hidden names (ours and pg_receivewal's temporary
// files) are skipped.
func Read(names []string, segSize int64) Spool {
	var s Spool
	for _, name := range names {
		if strings.HasPrefix(name, ".") {
			continue
		}
		if tli, err := wal.ParseHistoryName(name); err == nil {
			s.Ready = append(s.Ready, File{Name: name, History: true, Timeline: tli, Segment: wal.Segment{Timeline: tli}})
			continue
		}
		seg, partial, err := wal.ParseSegmentName(name, segSize)
		if err != nil {
			s.Strangers = append(s.Strangers, name)
			continue
		}
		f := File{Name: name, Segment: seg, Partial: partial, Timeline: seg.Timeline}
		if !partial {
			s.Ready = append(s.Ready, f)
		} else if s.Partial == nil || later(f.Segment, s.Partial.Segment) {
			s.Partial = &f
		}
	}
	slices.SortFunc(s.Ready, func(a, b File) int {
		if a.History != b.History {
			if a.History {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Segment.Timeline, b.Segment.Timeline), cmp.Compare(a.Segment.No, b.Segment.No))
	})
	slices.Sort(s.Strangers)
	return s
}

func later(a, b wal.Segment) bool {
	return a.No > b.No || a.No == b.No && a.Timeline > b.Timeline
}

// Key is where file f goes in every place of the archive of the cluster
// whose system identifier is sysid, ext being the stored file's extension
// (".zst", ".zst.age"): pitr/SYSID/wal/TIMELINE+XLOGID/SEGMENT[.partial]EXT,
// 256 segments of 16 MiB to a folder; history files at pitr/SYSID/wal/.
// Only names Read accepted reach it.
func Key(sysid uint64, f File, ext string) string {
	root := "pitr/" + strconv.FormatUint(sysid, 10) + "/wal/"
	if f.History {
		return root + f.Name + ext
	}
	return root + f.Name[:16] + "/" + f.Name + ext
}

// pageSize is the WAL's page size (XLOG_BLCKSZ, 8 kB on every build we
// read).
const pageSize = 8192

// WrittenEnd is how far pg_receivewal wrote into the segment file at path:
// it fills a new file with zeros first, so the end of the last page that
// is not all zeros (the segment's start when there is none). For the
// unfinished segment of a slot that is gone, where the slot cannot say
// what was flushed.
func WrittenEnd(path string, seg wal.Segment, segSize int64) (wal.LSN, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	page := make([]byte, pageSize)
	for off := (min(st.Size(), segSize)/pageSize - 1) * pageSize; off >= 0; off -= pageSize {
		n, err := f.ReadAt(page, off)
		if err != nil && n == 0 {
			return 0, err
		}
		for _, b := range page[:n] {
			if b != 0 {
				return seg.Start(segSize) + wal.LSN(off+pageSize), nil
			}
		}
	}
	return seg.Start(segSize), nil
}
