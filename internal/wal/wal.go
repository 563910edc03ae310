// Package wal knows PostgreSQL's write-ahead log as files: log sequence
// numbers (LSN), segment and timeline-history file names, a segment's page
// header, and a timeline history's switch points. It is pure: it reads
// names and bytes it is given, and decides nothing about where they go.
// Point-in-time recovery (docs/PITR.md) names, checks and orders every
// file of its archive with it.
package wal

import (
	"fmt"
	"strconv"
	"strings"
)

// LSN is a position in the write-ahead log (PostgreSQL's XLogRecPtr).
type LSN uint64

// String is PostgreSQL's own form, "16/B374D848".
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l)) }

// ParseLSN reads "16/B374D848" (either case, as pg_lsn prints and reads it).
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil || hi == "" || lo == "" {
		return 0, fmt.Errorf("%q: not an LSN (two hexadecimal numbers around a slash, like 16/B374D848)", s)
	}
	return LSN(h<<32 | l), nil
}

// DefaultSegmentSize is initdb's default wal_segment_size.
const DefaultSegmentSize = 16 << 20

// CheckSegmentSize refuses a size PostgreSQL cannot have: a power of two
// from 1 MiB to 1 GiB.
func CheckSegmentSize(size int64) error {
	if size < 1<<20 || size > 1<<30 || size&(size-1) != 0 {
		return fmt.Errorf("wal_segment_size %d: PostgreSQL's is a power of two from 1 MiB to 1 GiB", size)
	}
	return nil
}

// Segment is one WAL segment file: the timeline it belongs to and its
// number (its start LSN divided by the segment size).
type Segment struct {
	Timeline uint32
	No       uint64
}

// segmentsPerID is how many segments one "xlogid" (4 GiB of LSN) holds:
// the middle part of a segment's name counts those.
func segmentsPerID(size int64) uint64 { return (1 << 32) / uint64(size) }

// Name is the segment's file name: 24 hexadecimal digits, the timeline,
// then the segment number split at 4 GiB ("000000010000000A000000FE").
func (s Segment) Name(size int64) string {
	per := segmentsPerID(size)
	return fmt.Sprintf("%08X%08X%08X", s.Timeline, s.No/per, s.No%per)
}

// Start is the LSN of the segment's first byte.
func (s Segment) Start(size int64) LSN { return LSN(s.No * uint64(size)) }

// End is the LSN just past the segment's last byte.
func (s Segment) End(size int64) LSN { return LSN((s.No + 1) * uint64(size)) }

// SegmentOf is the segment of timeline tli that holds lsn.
func SegmentOf(tli uint32, lsn LSN, size int64) Segment {
	return Segment{Timeline: tli, No: uint64(lsn) / uint64(size)}
}

// PartialSuffix marks the segment pg_receivewal is still writing.
const PartialSuffix = ".partial"

// ParseSegmentName reads a segment's file name, with or without
// ".partial"; partial says which. Anything else is an error: a name that
// reaches a path or a key here has been read whole.
func ParseSegmentName(name string, size int64) (seg Segment, partial bool, err error) {
	base, partial := strings.CutSuffix(name, PartialSuffix)
	if len(base) != 24 || !isUpperHex(base) {
		return Segment{}, false, fmt.Errorf("%q: not a WAL segment name (24 hexadecimal digits)", name)
	}
	tli, _ := strconv.ParseUint(base[0:8], 16, 32)
	id, _ := strconv.ParseUint(base[8:16], 16, 32)
	off, _ := strconv.ParseUint(base[16:24], 16, 32)
	per := segmentsPerID(size)
	if tli == 0 || off >= per {
		return Segment{}, false, fmt.Errorf("%q: not a WAL segment name for %d-byte segments", name, size)
	}
	return Segment{Timeline: uint32(tli), No: id*per + off}, partial, nil
}

// HistoryName is the file that tells how timeline tli branched off its
// parent ("00000002.history"); timeline 1 has none.
func HistoryName(tli uint32) string { return fmt.Sprintf("%08X.history", tli) }

// ParseHistoryName reads a timeline-history file's name.
func ParseHistoryName(name string) (uint32, error) {
	base, ok := strings.CutSuffix(name, ".history")
	if !ok || len(base) != 8 || !isUpperHex(base) {
		return 0, fmt.Errorf("%q: not a timeline history name (8 hexadecimal digits, .history)", name)
	}
	tli, _ := strconv.ParseUint(base, 16, 32)
	if tli < 2 {
		return 0, fmt.Errorf("%q: timeline 1 has no history", name)
	}
	return uint32(tli), nil
}

func isUpperHex(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'A' || r > 'F') {
			return false
		}
	}
	return s != ""
}
