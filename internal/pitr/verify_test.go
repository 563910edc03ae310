package pitr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// The daily check: a continuous archive whose places hold what was
// shipped passes; a segment missing from the catalog, a copy missing from
// a place and a copy that differs each fail it, said; a gap a lost slot
// explains is listed and passes.
func TestCheckArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, store := fixture.OpenCatalog(t, config.Database{URL: cluster.URL(fixture.Catalog(t, cluster))})
	dirs := []string{t.TempDir(), t.TempDir()}
	places := []destination.Store{destination.Dir{Root: dirs[0]}, destination.Dir{Root: dirs[1]}}
	now := time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	base := func(sysid uint64, label, trigger string, segNo uint64) {
		b := catalog.BaseBackup{ID: uuid.New(), SystemID: sysid, Label: label, TriggeredBy: trigger, StartedAt: now.Add(time.Duration(segNo) * time.Minute), Hostname: "h"}
		if err := store.StartBaseBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
		fin := b.StartedAt.Add(time.Minute)
		b.Status, b.FinishedAt, b.Timeline = "success", &fin, 1
		b.StartLSN, b.EndLSN = wal.LSN(segNo*wal.DefaultSegmentSize+0x28).String(), wal.LSN(segNo*wal.DefaultSegmentSize+0x100).String()
		if err := store.FinishBaseBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	segments := func(sysid uint64, nos ...uint64) []catalog.WALFile {
		var out []catalog.WALFile
		for _, no := range nos {
			seg := wal.Segment{Timeline: 1, No: no}
			body := []byte(fmt.Sprintf("segment %d of %d", no, sysid))
			sum := sha256.Sum256(body)
			f := catalog.WALFile{SystemID: sysid, Kind: catalog.WALSegment, Timeline: 1, SegmentNo: no, FileName: seg.Name(wal.DefaultSegmentSize),
				ObjectKey: fmt.Sprintf("pitr/%d/wal/%s.zst", sysid, seg.Name(wal.DefaultSegmentSize)), StoredSHA256: hex.EncodeToString(sum[:]),
				StartLSN: seg.Start(wal.DefaultSegmentSize).String(), EndLSN: seg.End(wal.DefaultSegmentSize).String(), Copies: []string{"a", "b"}}
			if err := store.RecordWALFile(ctx, f); err != nil {
				t.Fatal(err)
			}
			if err := sealed.PutBytes(ctx, places, f.ObjectKey, body); err != nil {
				t.Fatal(err)
			}
			out = append(out, f)
		}
		return out
	}
	every := func(n int64) int64 { return 0 }

	base(1, "b1", "first", 2)
	segments(1, 2, 3, 4, 5, 6, 7, 8, 9)
	c, err := CheckArchive(ctx, store, places, 1, now, every)
	if err != nil || c.Status != catalog.TestSuccess || c.FilesSampled != 6 || c.Places != 2 || len(c.Gaps)+len(c.Problems) != 0 {
		t.Fatalf("a continuous archive: %+v %v", c, err)
	}

	// A segment the catalog lacks, one a place lacks, one a place holds
	// different: each said.
	base(2, "b1", "first", 2)
	files := segments(2, 2, 3, 5, 6)
	if err := os.Remove(filepath.Join(dirs[1], files[0].ObjectKey)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirs[0], files[3].ObjectKey), []byte("not what was shipped"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = CheckArchive(ctx, store, places, 2, now, every)
	if err != nil || c.Status != catalog.TestFailed || len(c.Gaps) != 1 || len(c.Problems) != 3 {
		t.Fatalf("a broken archive: %+v %v", c, err)
	}
	for i, want := range []string{"lacks WAL from 0/4000000 to 0/5000000", "lacks " + files[0].FileName, files[3].FileName + " differs"} {
		if !strings.Contains(c.Problems[i], want) {
			t.Errorf("problem %d: %q, want it to say %q", i, c.Problems[i], want)
		}
	}

	// A lost slot's gap, healed by a new base backup: listed, no failure.
	base(3, "b1", "first", 2)
	segments(3, 2, 3, 6, 7)
	base(3, "b2", "slot_lost", 6)
	c, err = CheckArchive(ctx, store, places, 3, now, every)
	if err != nil || c.Status != catalog.TestSuccess || len(c.Gaps) != 1 || !strings.Contains(c.Gaps[0], "a lost slot") {
		t.Fatalf("a known gap: %+v %v", c, err)
	}
	if err := store.RecordArchiveCheck(ctx, c); err != nil {
		t.Fatal(err)
	}
	checks, err := store.LastArchiveChecks(ctx)
	if err != nil || len(checks) != 1 || checks[0].SystemID != 3 || checks[0].Status != catalog.TestSuccess || len(checks[0].Gaps) != 1 {
		t.Fatalf("recorded: %+v %v", checks, err)
	}

	// Another gap fails the check until it was told and a base backup
	// (the remedy the alert gives) restores past it; then it is listed,
	// day after day, and fails nothing.
	base(4, "b1", "first", 2)
	segments(4, 2, 3, 5, 6)
	record := func() catalog.ArchiveCheck {
		c, err := CheckArchive(ctx, store, places, 4, now, every)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.RecordArchiveCheck(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := record(); c.Status != catalog.TestFailed {
		t.Fatalf("a gap, first seen: %+v", c)
	}
	base(4, "b2", "manual", 5)
	for day := range 2 {
		if c := record(); c.Status != catalog.TestSuccess || len(c.Gaps) != 1 {
			t.Fatalf("a gap told and healed, day %d: %+v", day, c)
		}
	}
}
