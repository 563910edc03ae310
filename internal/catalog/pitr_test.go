package catalog

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A cluster's WAL archive as the catalog keeps it: a partial copy replaced
// by the next, then by its finished segment; history files first; a
// system identifier above the largest signed 64-bit number read back whole;
// another cluster's files apart.
func TestWALFiles(t *testing.T) {
	t.Parallel()
	s, _ := migratedStore(t)
	ctx := context.Background()
	const sysid = uint64(18446744073709551615)
	file := func(kind WALKind, tli uint32, no uint64, end string) WALFile {
		return WALFile{SystemID: sysid, Kind: kind, Timeline: tli, SegmentNo: no, FileName: "f", ObjectKey: "k",
			StartLSN: "0/3000000", EndLSN: end, RawSize: 16 << 20, RawSHA256: "r", StoredSize: 1000, StoredCRC32: "0000abcd",
			StoredSHA256: "s", CompressionFormat: "zstd", Encrypted: true, Copies: []string{"file:///a", "s3://b"}}
	}
	for _, f := range []WALFile{
		file(WALSegment, 1, 2, "0/3000000"),
		file(WALPartial, 1, 3, "0/3000100"),
		file(WALPartial, 1, 3, "0/3000200"),
		{SystemID: sysid, Kind: WALHistory, Timeline: 2, FileName: "00000002.history", ObjectKey: "h", RawSHA256: "x",
			StoredSHA256: "y", StoredCRC32: "00000000", CompressionFormat: "zstd", Copies: []string{}},
		{SystemID: 7, Kind: WALSegment, Timeline: 1, SegmentNo: 1, FileName: "other", ObjectKey: "o", Copies: []string{}},
	} {
		if err := s.RecordWALFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.WALFiles(ctx, sysid)
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(fs []WALFile) (out []string) {
		for _, f := range fs {
			out = append(out, string(f.Kind)+":"+f.EndLSN)
		}
		return out
	}
	if want := []string{"history:", "segment:0/3000000", "partial:0/3000200"}; !slices.Equal(kinds(got), want) {
		t.Fatalf("%v, want %v", kinds(got), want)
	}
	if got[1].SystemID != sysid || got[1].Timeline != 1 || got[1].SegmentNo != 2 || !got[1].Encrypted ||
		!slices.Equal(got[1].Copies, []string{"file:///a", "s3://b"}) || got[1].ShippedAt.IsZero() {
		t.Fatalf("%+v", got[1])
	}
	// shipped_at is the row's (the moment its WAL reaches), the insert's
	// and the update's: the window ends there, not when it was recorded.
	holds := time.Date(2026, 12, 7, 0, 51, 31, 52000000, time.UTC)
	for _, at := range []time.Time{holds, holds.Add(time.Second)} {
		partial := file(WALPartial, 1, 3, "0/3000300")
		partial.ShippedAt = at
		if err := s.RecordWALFile(ctx, partial); err != nil {
			t.Fatal(err)
		}
		got, _ = s.WALFiles(ctx, sysid)
		if last := got[len(got)-1]; last.Kind != WALPartial || !last.ShippedAt.Equal(at) {
			t.Fatalf("the partial copy's shipped_at %s, want the row's %s", last.ShippedAt, at)
		}
	}
	if err := s.RecordWALFile(ctx, file(WALSegment, 1, 3, "0/4000000")); err != nil {
		t.Fatal(err)
	}
	got, _ = s.WALFiles(ctx, sysid)
	if want := []string{"history:", "segment:0/3000000", "segment:0/4000000"}; !slices.Equal(kinds(got), want) {
		t.Fatalf("after the finished segment: %v, want %v", kinds(got), want)
	}
}

// A stream's state as its replica writes it, read back whole: a slot
// limit and a safe size past 2 GiB (a max_slot_wal_keep_size of 2GB and
// more, as the docs advise, was once refused as an int4 and the state
// never written), no limit, the LSNs.
func TestStreams(t *testing.T) {
	t.Parallel()
	s, _ := migratedStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, st := range []Stream{
		{SystemID: 1, Slot: "rgz_backup", Server: "db:5432", Hostname: "h", Receiving: true, SlotStatus: "reserved",
			SafeBytes: 3 << 30, LimitBytes: 8 << 30, ShippedLSN: "5/3000000", ServerLSN: "5/3001000", ReceivedLSN: "5/3000800", UpdatedAt: now},
		{SystemID: 2, Slot: "rgz_backup", Server: "db2:5432", Hostname: "h", SlotStatus: "", SafeBytes: -1, LimitBytes: -1, UpdatedAt: now},
	} {
		if err := s.RecordStream(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Streams(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	if g := got[0]; g.SafeBytes != 3<<30 || g.LimitBytes != 8<<30 || g.ServerLSN != "5/3001000" || g.ReceivedLSN != "5/3000800" ||
		!g.UpdatedAt.Equal(now) || !g.Receiving {
		t.Errorf("a stream with a limit past 2 GiB: %+v", g)
	}
	if g := got[1]; g.SafeBytes != -1 || g.LimitBytes != -1 || g.ServerLSN != "" {
		t.Errorf("a stream without a limit: %+v", g)
	}
}
