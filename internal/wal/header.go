package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderSize is how many bytes of a segment Check reads: its first page's
// long header (XLogLongPageHeaderData).
const HeaderSize = 40

// xlpLongHeader is xlp_info's flag for the long header every segment's
// first page carries.
const xlpLongHeader = 0x0002

// Header is what a segment's first page says about it.
type Header struct {
	Magic     uint16 // XLOG_PAGE_MAGIC: one value per PostgreSQL major version
	Timeline  uint32 // the timeline the page was written on
	PageAddr  LSN    // the LSN of the page's first byte
	SystemID  uint64 // the cluster's system identifier (initdb's)
	SegSize   uint32
	BlockSize uint32 // XLOG_BLCKSZ
}

// magics are the XLOG_PAGE_MAGIC values of the PostgreSQL versions this
// build knows (src/include/access/xlog_internal.h).
var magics = map[int]uint16{12: 0xD101, 13: 0xD106, 14: 0xD10D, 15: 0xD110, 16: 0xD113, 17: 0xD116}

// MagicOf is the page magic of PostgreSQL major version major; false when
// this build does not know it (a newer server: the magic is then learnt
// from the archive's first segment and required of every other).
func MagicOf(major int) (uint16, bool) {
	m, ok := magics[major]
	return m, ok
}

// ErrNotWAL is Check's error for bytes that are not a WAL segment's start
// (a zero-filled or foreign file).
var ErrNotWAL = errors.New("not the start of a WAL segment")

// ReadHeader decodes a segment's first page header. PostgreSQL writes it
// in the machine's byte order; every architecture rgz-backup is built
// for (amd64, arm64) is little-endian, as are the servers it reads.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, a header has %d", ErrNotWAL, len(b), HeaderSize)
	}
	le := binary.LittleEndian
	if le.Uint16(b[2:])&xlpLongHeader == 0 {
		return Header{}, fmt.Errorf("%w: its first page has no long header", ErrNotWAL)
	}
	return Header{
		Magic:     le.Uint16(b[0:]),
		Timeline:  le.Uint32(b[4:]),
		PageAddr:  LSN(le.Uint64(b[8:])),
		SystemID:  le.Uint64(b[24:]),
		SegSize:   le.Uint32(b[32:]),
		BlockSize: le.Uint32(b[36:]),
	}, nil
}

// Expect is what a segment of an archive must say about itself.
type Expect struct {
	SystemID uint64 // the archive's cluster
	Magic    uint16 // 0: any (then the caller compares it across segments)
	SegSize  int64
}

// Check reads the header at the start of segment seg's file and says
// whether it is that segment of that cluster: the magic, the system
// identifier, the segment size, the page address matching the name, and a
// timeline no later than the name's. (Not equal: a segment where the
// server switched timelines begins with pages of the parent timeline, as
// PostgreSQL copies them into the new file.)
func Check(b []byte, seg Segment, want Expect) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return Header{}, err
	}
	name := seg.Name(want.SegSize)
	switch {
	case want.Magic != 0 && h.Magic != want.Magic:
		return h, fmt.Errorf("%s: page magic %#04x, the archive's is %#04x (another PostgreSQL version's WAL?)", name, h.Magic, want.Magic)
	case h.SystemID != want.SystemID:
		return h, fmt.Errorf("%s: system identifier %d, the archive's cluster is %d (WAL of another cluster)", name, h.SystemID, want.SystemID)
	case int64(h.SegSize) != want.SegSize:
		return h, fmt.Errorf("%s: segment size %d, the archive's is %d", name, h.SegSize, want.SegSize)
	case h.PageAddr != seg.Start(want.SegSize):
		return h, fmt.Errorf("%s: its first page is at %s, its name says %s (renamed or corrupt)", name, h.PageAddr, seg.Start(want.SegSize))
	case h.Timeline == 0 || h.Timeline > seg.Timeline:
		return h, fmt.Errorf("%s: written on timeline %d, later than its name's %d", name, h.Timeline, seg.Timeline)
	}
	return h, nil
}
