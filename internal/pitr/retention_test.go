package pitr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/basebackup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/wal"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// Retention removes, from every place and then from the catalog, the base
// backups older than the window's first one and the WAL before its start;
// it keeps what a kept base backup needs.
func TestExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, store := fixture.OpenCatalog(t, config.Database{URL: cluster.URL(fixture.Catalog(t, cluster))})
	places := []destination.Store{destination.Dir{Root: t.TempDir()}, destination.Dir{Root: t.TempDir()}}
	const sysid = 77
	now := time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	put := func(key string) {
		if err := sealed.PutBytes(ctx, places, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	base := func(label string, ago time.Duration, segNo uint64) catalog.BaseBackup {
		b := catalog.BaseBackup{ID: uuid.New(), SystemID: sysid, Label: label, TriggeredBy: "scheduled", StartedAt: now.Add(-ago), Hostname: "h"}
		if err := store.StartBaseBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
		fin := b.StartedAt.Add(time.Minute)
		b.Status, b.FinishedAt, b.Timeline = "success", &fin, 1
		b.StartLSN, b.EndLSN = wal.LSN(segNo*wal.DefaultSegmentSize+0x28).String(), wal.LSN(segNo*wal.DefaultSegmentSize+0x100).String()
		b.ObjectKey = basebackup.Key(sysid, label, ".zst")
		if err := store.FinishBaseBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
		put(b.ObjectKey)
		put(basebackup.SidecarKey(sysid, label))
		put(basebackup.TestKey(sysid, label))
		return b
	}
	week := 7 * 24 * time.Hour
	old, kept, newest := base("old", 3*week, 2), base("kept", 2*week+time.Hour, 4), base("newest", time.Hour, 6)
	for no := uint64(2); no <= 7; no++ {
		seg := wal.Segment{Timeline: 1, No: no}
		f := catalog.WALFile{SystemID: sysid, Kind: catalog.WALSegment, Timeline: 1, SegmentNo: no, FileName: seg.Name(wal.DefaultSegmentSize),
			ObjectKey: fmt.Sprintf("pitr/%d/wal/%s.zst", sysid, seg.Name(wal.DefaultSegmentSize)),
			StartLSN:  seg.Start(wal.DefaultSegmentSize).String(), EndLSN: seg.End(wal.DefaultSegmentSize).String(), Copies: []string{"x"}}
		if err := store.RecordWALFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		put(f.ObjectKey)
	}
	got, err := Expire(ctx, store, places, sysid, now, 14, false, false, slog.New(slog.DiscardHandler))
	if err != nil || len(got.BaseBackups) != 1 || got.BaseBackups[0] != "old" || got.WALFiles != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	for _, st := range places {
		for key, want := range map[string]bool{old.ObjectKey: false, basebackup.SidecarKey(sysid, "old"): false, basebackup.TestKey(sysid, "old"): false,
			kept.ObjectKey: true, basebackup.TestKey(sysid, "kept"): true, newest.ObjectKey: true,
			fmt.Sprintf("pitr/%d/wal/000000010000000000000003.zst", sysid): false, fmt.Sprintf("pitr/%d/wal/000000010000000000000004.zst", sysid): true} {
			_, err := st.Stat(ctx, key)
			if (err == nil) != want {
				t.Errorf("%s in %s: %v, want kept=%v", key, st, err, want)
			}
		}
	}
	files, _ := store.WALFiles(ctx, sysid)
	if len(files) != 4 || files[0].SegmentNo != 4 {
		t.Fatalf("catalog keeps %d files from %d", len(files), files[0].SegmentNo)
	}
	// A second pass finds nothing more to do.
	if got, err := Expire(ctx, store, places, sysid, now, 14, false, false, slog.New(slog.DiscardHandler)); err != nil || len(got.BaseBackups)+got.WALFiles != 0 {
		t.Fatalf("again: %+v %v", got, err)
	}
	// More than half at once is refused.
	base("x1", 5*week, 1)
	base("x2", 5*week, 1)
	base("x3", 5*week, 1)
	if _, err := Expire(ctx, store, places, sysid, now, 14, false, false, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrRefused) {
		t.Fatalf("mass deletion: %v", err)
	}
}
