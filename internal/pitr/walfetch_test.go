package pitr

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/wal"
	"github.com/mosaique/rgz-backup/internal/walship"
)

// segmentBytes is a whole segment as pg_receivewal writes one (a
// partial one is padded to the full size too): a valid first page header
// of seg in cluster sysid, then fill.
func segmentBytes(sysid uint64, seg wal.Segment, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, wal.DefaultSegmentSize)
	le := binary.LittleEndian
	magic, _ := wal.MagicOf(15)
	le.PutUint16(b[0:], magic)
	le.PutUint16(b[2:], 0x0002) // the long header
	le.PutUint32(b[4:], seg.Timeline)
	le.PutUint64(b[8:], uint64(seg.Start(wal.DefaultSegmentSize)))
	le.PutUint64(b[24:], sysid)
	le.PutUint32(b[32:], wal.DefaultSegmentSize)
	le.PutUint32(b[36:], 8192)
	return b
}

// The archive of a live server moves while recovery reads it: the partial
// copy of the segment being written is replaced in place every few
// seconds (the catalog's row after the copy), then removed once the whole
// segment is stored. wal-fetch reads the catalog again when only a
// partial copy failed, and never ends or stops recovery for it; a copy
// that stays wrong is still an error after a few attempts, and a whole
// segment that fails is one at once.
func TestWALFetchWhileTheArchiveMoves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, store := fixture.OpenCatalog(t, config.Database{URL: cluster.URL(fixture.Catalog(t, cluster))})
	local, spool, restored := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := config.Config{LocalDir: local}
	const sysid = 7100000000000000001
	seg := wal.Segment{Timeline: 1, No: 3}
	name := seg.Name(wal.DefaultSegmentSize)
	partialFile := walship.File{Name: name + wal.PartialSuffix, Segment: seg, Partial: true, Timeline: 1}
	wholeFile := walship.File{Name: name, Segment: seg, Timeline: 1}
	end := seg.Start(wal.DefaultSegmentSize) + 0x1000

	// ship ships file, made of fill, from the spool; before it records
	// what it shipped, it calls beforeRecord (nil: records at once).
	ship := func(f walship.File, fill byte, beforeRecord func()) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(spool, f.Name), segmentBytes(sysid, seg, fill), 0o600); err != nil {
			t.Error(err)
			return
		}
		s := &walship.Shipper{Spool: spool, Expect: wal.Expect{SystemID: sysid, SegSize: wal.DefaultSegmentSize},
			Format: archive.Zstd, Level: 3, Stores: []destination.Store{destination.Dir{Root: local}},
			Record: func(ctx context.Context, s walship.Shipped) error {
				if beforeRecord != nil {
					beforeRecord()
				}
				return store.RecordWALFile(ctx, Row(sysid, s, archive.Zstd, time.Now()))
			}}
		if err := s.Prepare(); err != nil {
			t.Error(err)
			return
		}
		if _, err := s.Ship(ctx, f, end); err != nil {
			t.Error(err)
		}
	}
	fetched := func(fill byte) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(restored, name))
		if err != nil || !bytes.Equal(got, segmentBytes(sysid, seg, fill)) {
			t.Fatalf("wal-fetch did not write the copy of %q: %v", fill, err)
		}
		os.Remove(filepath.Join(restored, name))
	}
	fetch := func(wait func(ctx context.Context, attempt int) error) error {
		return walFetch(ctx, cfg, store, sysid, name, filepath.Join(restored, name), wait)
	}

	// A partial copy replaced after the catalog was read, and replaced
	// again before its row follows: the copy read is the one the row that
	// follows records, and it is taken without reading the copy again
	// (which could meet the next one, for ever on a slow reader).
	ship(partialFile, 'a', nil)
	uploaded, release, recorded := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(recorded)
		ship(partialFile, 'b', func() { close(uploaded); <-release })
	}()
	select {
	case <-uploaded:
	case <-recorded:
		t.Fatal("the second partial copy was not shipped")
	}
	uploadedAgain, releaseAgain, recordedAgain := make(chan struct{}), make(chan struct{}), make(chan struct{})
	attempts, polls := 0, 0
	err := fetch(func(ctx context.Context, attempt int) error {
		if attempt > 0 {
			attempts = attempt
			return nil
		}
		if polls++; polls == 1 {
			close(release)
			<-recorded
			go func() {
				defer close(recordedAgain)
				ship(partialFile, 'c', func() { close(uploadedAgain); <-releaseAgain })
			}()
			<-uploadedAgain
		}
		return nil
	})
	close(releaseAgain)
	<-recordedAgain
	if err != nil || attempts != 0 || polls != 1 {
		t.Fatalf("a partial copy replaced while it was read: %v after %d attempts, %d reads of its row", err, attempts, polls)
	}
	fetched('b')

	// The partial copy removed once the whole segment was stored, between
	// the catalog's read and the copy's: the second read finds the whole.
	key := walship.Key(sysid, partialFile, ".zst")
	if err := os.Remove(filepath.Join(local, filepath.FromSlash(key))); err != nil {
		t.Fatal(err)
	}
	attempts = 0
	shipped := false
	err = fetch(func(ctx context.Context, attempt int) error {
		if attempt > 0 {
			attempts = attempt
		}
		if !shipped {
			shipped = true
			ship(wholeFile, 'd', nil)
		}
		return nil
	})
	if err != nil || attempts != 1 {
		t.Fatalf("a partial copy replaced by the whole segment while it was read: %v after %d attempts", err, attempts)
	}
	fetched('d')

	// A whole segment that differs from its row is an error at once.
	wholeKey := walship.Key(sysid, wholeFile, ".zst")
	overwrite(t, filepath.Join(local, filepath.FromSlash(wholeKey)), storedForm(t, sysid, wholeFile, 'x'))
	attempts = 0
	err = fetch(func(ctx context.Context, attempt int) error { attempts = attempt; return nil })
	if err == nil || errors.Is(err, ErrWALNotFound) || attempts != 0 || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("a whole segment that differs: %v after %d attempts", err, attempts)
	}
	if _, err := os.Stat(filepath.Join(restored, name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed wal-fetch wrote %s", name)
	}

	// A partial copy that stays wrong: an error after a few attempts,
	// never "not in the archive".
	seg = wal.Segment{Timeline: 1, No: 4}
	name = seg.Name(wal.DefaultSegmentSize)
	partialFile = walship.File{Name: name + wal.PartialSuffix, Segment: seg, Partial: true, Timeline: 1}
	end = seg.Start(wal.DefaultSegmentSize) + 0x1000
	ship(partialFile, 'e', nil)
	overwrite(t, filepath.Join(local, filepath.FromSlash(walship.Key(sysid, partialFile, ".zst"))), storedForm(t, sysid, partialFile, 'f'))
	attempts = 0
	err = fetch(func(ctx context.Context, attempt int) error {
		if attempt > 0 {
			attempts = attempt
		}
		return nil
	})
	if err == nil || errors.Is(err, ErrWALNotFound) || attempts != partialRetries {
		t.Fatalf("a partial copy that stays wrong: %v after %d attempts", err, attempts)
	}
}

// storedForm is what the archive stores for f made of fill.
func storedForm(t *testing.T, sysid uint64, f walship.File, fill byte) []byte {
	t.Helper()
	spool, place := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(spool, f.Name), segmentBytes(sysid, f.Segment, fill), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &walship.Shipper{Spool: spool, Expect: wal.Expect{SystemID: sysid, SegSize: wal.DefaultSegmentSize},
		Format: archive.Zstd, Level: 3, Stores: []destination.Store{destination.Dir{Root: place}}}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ship(context.Background(), f, f.Segment.End(wal.DefaultSegmentSize)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(place, filepath.FromSlash(walship.Key(sysid, f, ".zst"))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func overwrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
