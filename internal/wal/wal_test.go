package wal

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestLSN(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want LSN
		err  bool
	}{
		{"16/B374D848", 0x16B374D848, false},
		{"0/0", 0, false},
		{"ff/ffffffff", 0xFFFFFFFFFF, false},
		{"FFFFFFFF/FFFFFFFF", 0xFFFFFFFFFFFFFFFF, false},
		{"16B374D848", 0, true},
		{"/1", 0, true},
		{"1/", 0, true},
		{"1/2/3", 0, true},
		{"100000000/0", 0, true},
		{"-1/0", 0, true},
	} {
		got, err := ParseLSN(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseLSN(%q) = %v, %v", tt.in, got, err)
		}
		if err == nil && !strings.EqualFold(got.String(), tt.in) {
			t.Errorf("%q printed back as %q", tt.in, got)
		}
	}
}

func TestSegmentNames(t *testing.T) {
	for _, tt := range []struct {
		name    string
		size    int64
		seg     Segment
		partial bool
		err     bool
	}{
		{"000000010000000A000000FE", 16 << 20, Segment{1, 0xA*256 + 0xFE}, false, false},
		{"000000020000000000000001.partial", 16 << 20, Segment{2, 1}, true, false},
		{"00000001000000010000000F", 256 << 20, Segment{1, 16 + 15}, false, false},
		{"000000010000000000000100", 16 << 20, Segment{}, false, true}, // past 255 in a 4 GiB id
		{"000000000000000000000001", 16 << 20, Segment{}, false, true}, // timeline 0
		{"000000010000000a000000fe", 16 << 20, Segment{}, false, true}, // PostgreSQL writes upper case
		{"00000001000000000000001", 16 << 20, Segment{}, false, true},
		{"../../../../etc/passwd00", 16 << 20, Segment{}, false, true},
		{"000000010000000000000001.gz", 16 << 20, Segment{}, false, true},
		{"00000002.history", 16 << 20, Segment{}, false, true},
	} {
		seg, partial, err := ParseSegmentName(tt.name, tt.size)
		if (err != nil) != tt.err || seg != tt.seg || partial != tt.partial {
			t.Errorf("ParseSegmentName(%q) = %+v, %v, %v", tt.name, seg, partial, err)
			continue
		}
		if err == nil {
			if got := seg.Name(tt.size); got != strings.TrimSuffix(tt.name, PartialSuffix) {
				t.Errorf("%+v named %q, want %q", seg, got, tt.name)
			}
		}
	}
	seg := SegmentOf(3, 0x16B374D848, 16<<20)
	if seg.Name(16<<20) != "0000000300000016000000B3" || seg.Start(16<<20) != 0x16B3000000 || seg.End(16<<20) != 0x16B4000000 {
		t.Errorf("SegmentOf: %+v %s %s %s", seg, seg.Name(16<<20), seg.Start(16<<20), seg.End(16<<20))
	}
}

func TestHistoryNames(t *testing.T) {
	if HistoryName(10) != "0000000A.history" {
		t.Fatal(HistoryName(10))
	}
	for name, want := range map[string]uint32{"0000000A.history": 10, "00000002.history": 2, "00000001.history": 0,
		"0000000a.history": 0, "0000000A.history.gz": 0, "000000A.history": 0, "../0000A.history": 0} {
		got, err := ParseHistoryName(name)
		if got != want || (err == nil) != (want != 0) {
			t.Errorf("ParseHistoryName(%q) = %d, %v", name, got, err)
		}
	}
}

func TestSegmentSize(t *testing.T) {
	for size, ok := range map[int64]bool{1 << 20: true, 16 << 20: true, 1 << 30: true, 1 << 19: false, 2 << 30: false, 3 << 20: false, 0: false, -16: false} {
		if err := CheckSegmentSize(size); (err == nil) != ok {
			t.Errorf("CheckSegmentSize(%d): %v", size, err)
		}
	}
}

// header is a segment's first 40 bytes as PostgreSQL writes them.
func header(magic uint16, info uint16, tli uint32, addr LSN, sysid uint64, segSize uint32) []byte {
	b := make([]byte, HeaderSize)
	le := binary.LittleEndian
	le.PutUint16(b[0:], magic)
	le.PutUint16(b[2:], info)
	le.PutUint32(b[4:], tli)
	le.PutUint64(b[8:], uint64(addr))
	le.PutUint64(b[24:], sysid)
	le.PutUint32(b[32:], segSize)
	le.PutUint32(b[36:], 8192)
	return b
}

func TestCheck(t *testing.T) {
	const size = 16 << 20
	const sysid = 7315000000000000001
	seg := Segment{Timeline: 2, No: 5}
	want := Expect{SystemID: sysid, Magic: 0xD110, SegSize: size}
	for _, tt := range []struct {
		name string
		b    []byte
		err  string
	}{
		{"good", header(0xD110, 2, 2, seg.Start(size), sysid, size), ""},
		{"parent timeline's pages at a switch", header(0xD110, 2, 1, seg.Start(size), sysid, size), ""},
		{"another cluster", header(0xD110, 2, 2, seg.Start(size), sysid+1, size), "another cluster"},
		{"another version", header(0xD113, 2, 2, seg.Start(size), sysid, size), "page magic"},
		{"renamed", header(0xD110, 2, 2, seg.Start(size)+size, sysid, size), "renamed or corrupt"},
		{"later timeline", header(0xD110, 2, 3, seg.Start(size), sysid, size), "later than its name"},
		{"segment size", header(0xD110, 2, 2, seg.Start(size), sysid, 1<<20), "segment size"},
		{"short header", header(0xD110, 0, 2, seg.Start(size), sysid, size), "long header"},
		{"zeros", make([]byte, HeaderSize), "not the start of a WAL segment"},
		{"truncated", header(0xD110, 2, 2, seg.Start(size), sysid, size)[:20], "not the start of a WAL segment"},
	} {
		_, err := Check(tt.b, seg, want)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.err)
		}
	}
	if m, ok := MagicOf(15); !ok || m != 0xD110 {
		t.Errorf("MagicOf(15) = %#x, %v", m, ok)
	}
}

func TestParseHistory(t *testing.T) {
	got, err := ParseHistory(3, "1\t0/3000158\tno recovery target specified\n\n# a comment\n2\t0/5000000\tat restore point \"x\"\n")
	if err != nil || len(got) != 2 || got[0] != (Switch{1, 0x3000158}) || got[1] != (Switch{2, 0x5000000}) {
		t.Fatalf("%+v, %v", got, err)
	}
	for _, bad := range []string{"1", "0\t0/1\tx", "3\t0/1\tx", "x\t0/1", "1\tnope", "2\t0/5\tx\n1\t0/6\tx", "1\t0/6\tx\n2\t0/5\tx"} {
		if _, err := ParseHistory(3, bad); err == nil {
			t.Errorf("ParseHistory(%q) accepted", bad)
		}
	}
}

func TestReach(t *testing.T) {
	const size = 16 << 20
	// Timeline 3 began at 0/5800000 (segment 5) from 2, which began at
	// 0/3000158 (segment 3) from 1.
	path := Path{Timeline: 3, History: []Switch{{1, 0x3000158}, {2, 0x5800000}}}
	for no, tli := range map[uint64]uint32{0: 1, 2: 1, 3: 2, 4: 2, 5: 3, 9: 3} {
		if got := path.SegmentFile(no, size); got != (Segment{tli, no}) {
			t.Errorf("segment %d read from %+v, want timeline %d", no, got, tli)
		}
	}
	for lsn, tli := range map[LSN]uint32{0x3000157: 1, 0x3000158: 2, 0x57FFFFF: 2, 0x5800000: 3} {
		if got := path.TimelineAt(lsn); got != tli {
			t.Errorf("TimelineAt(%s) = %d, want %d", lsn, got, tli)
		}
	}
	archive := func(segs map[Segment]LSN) func(Segment) (LSN, bool) {
		return func(s Segment) (LSN, bool) { end, ok := segs[s]; return end, ok }
	}
	whole := func(s Segment) LSN { return s.End(size) }
	full := map[Segment]LSN{}
	for _, s := range []Segment{{1, 1}, {1, 2}, {2, 3}, {2, 4}, {3, 5}, {3, 6}} {
		full[s] = whole(s)
	}
	from := LSN(0x1000028)
	if got := path.Reach(from, size, archive(full)); got != 0x7000000 {
		t.Errorf("whole archive: reach %s, want 0/7000000", got)
	}
	// Segment 3 of timeline 1 is no use: recovery reads timeline 2's.
	gap := map[Segment]LSN{{1, 1}: whole(Segment{1, 1}), {1, 2}: whole(Segment{1, 2}), {1, 3}: whole(Segment{1, 3}), {2, 4}: whole(Segment{2, 4})}
	if got := path.Reach(from, size, archive(gap)); got != 0x3000000 {
		t.Errorf("missing 000000020000000000000003: reach %s, want 0/3000000", got)
	}
	partial := map[Segment]LSN{{1, 1}: whole(Segment{1, 1}), {1, 2}: 0x2ABCDEF, {2, 3}: whole(Segment{2, 3})}
	if got := path.Reach(from, size, archive(partial)); got != 0x2ABCDEF {
		t.Errorf("a partial segment ends the archive: reach %s", got)
	}
	if got := path.Reach(from, size, archive(nil)); got != from {
		t.Errorf("empty archive: reach %s, want %s", got, from)
	}
}
