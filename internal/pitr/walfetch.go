package pitr

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/wal"
	"github.com/mosaique/rgz-backup/internal/walship"
)

// ErrWALNotFound is WALFetch's error for a file the archive does not
// hold: for PostgreSQL, the end of the archived WAL.
var ErrWALNotFound = errors.New("not in the archive")

// stored is where one file of the archive is, and what it must be.
type stored struct {
	key       string
	format    archive.Format
	encrypted bool
	want      sealed.Expect
	segment   *wal.Segment // nil for a history file
	partial   bool         // a segment's partial copy
	recorded  bool         // the catalog says every place holds it
}

// PrefetchDir is where wal-fetch keeps the segments it fetched ahead,
// beside the file PostgreSQL asked for (in the restored cluster's pg_wal:
// the cluster's own data), until PostgreSQL asks for them.
const PrefetchDir = ".rgz-prefetch"

// Prefetch is how many segments wal-fetch fetches ahead, in parallel,
// when PostgreSQL asks for one it does not have yet: replay asks for one
// segment at a time, and each fetch from a remote place is mostly waiting.
const Prefetch = 8

// WALFetch writes the archived WAL file name (a segment, else its partial
// copy, or a history file) of cluster systemID to dest, as PostgreSQL's
// restore_command asks: found in the catalog (store; nil when it is
// unreachable: then looked for under every name the archive may have
// given it), fetched from the first place that holds a good copy,
// decrypted, decompressed, checked (the catalog's SHA-256, a segment's
// page header), and only then renamed to dest. A file no place holds is
// ErrWALNotFound; any other error means the archive could not be read.
//
// A segment fetched ahead earlier is taken from PrefetchDir; when the
// next one is not there yet, the following Prefetch whole segments are
// fetched in parallel before it returns.
func WALFetch(ctx context.Context, cfg config.Config, store *catalog.Store, systemID uint64, name, dest string) error {
	return walFetch(ctx, cfg, store, systemID, name, dest, waitBeforeRetry)
}

// waitBeforeRetry waits before the attempt-th new read of the catalog
// (0: a read of the row that follows a copy already read).
func waitBeforeRetry(ctx context.Context, attempt int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(max(attempt, 1)) * partialRetryWait):
		return nil
	}
}

// walFetch is WALFetch with the wait between attempts given (a test lets
// the shipper move on there).
func walFetch(ctx context.Context, cfg config.Config, store *catalog.Store, systemID uint64, name, dest string,
	wait func(ctx context.Context, attempt int) error) error {
	f := &fetcher{cfg: cfg, store: store, systemID: systemID, ahead: filepath.Join(filepath.Dir(dest), PrefetchDir), wait: wait}
	places, err := OpenPlaces(cfg)
	if err != nil {
		return err
	}
	defer places.Close()
	f.stores = places.Stores
	if f.dec, err = crypt.IdentityFile(cfg.Encryption.IdentityFile); err != nil {
		return fmt.Errorf("BACKUP_ENCRYPTION_IDENTITY_FILE: %w", err)
	}
	seg, isSegment := segmentName(name)
	if isSegment {
		if err := os.Rename(filepath.Join(f.ahead, name), dest); err == nil {
			f.fetchAhead(ctx, seg) // the next ones, if not there yet
			return nil
		}
	}
	if err := f.fetchLive(ctx, name, dest); err != nil {
		return err
	}
	if isSegment {
		f.fetchAhead(ctx, seg)
	}
	return nil
}

// fetcher fetches WAL files of one cluster from the archive's places.
type fetcher struct {
	cfg      config.Config
	store    *catalog.Store
	systemID uint64
	stores   []destination.Store
	dec      *crypt.Decrypter
	ahead    string
	wait     func(ctx context.Context, attempt int) error // before reading the catalog again
}

// segmentName is the segment name names, if it is a segment's.
func segmentName(name string) (wal.Segment, bool) {
	seg, partial, err := wal.ParseSegmentName(name, wal.DefaultSegmentSize)
	return seg, err == nil && !partial
}

// fetchAhead fetches the Prefetch whole segments after seg into the
// prefetch directory, in parallel, unless the next one is there already;
// it stops at the end of the archive. A failure here is no failure: the
// segment is fetched again when PostgreSQL asks for it.
func (f *fetcher) fetchAhead(ctx context.Context, seg wal.Segment) {
	next := wal.Segment{Timeline: seg.Timeline, No: seg.No + 1}
	if _, err := os.Stat(filepath.Join(f.ahead, next.Name(wal.DefaultSegmentSize))); err == nil {
		return
	}
	if err := os.MkdirAll(f.ahead, 0o700); err != nil {
		return
	}
	var wg sync.WaitGroup
	for i := range uint64(Prefetch) {
		s := wal.Segment{Timeline: seg.Timeline, No: seg.No + 1 + i}
		name := s.Name(wal.DefaultSegmentSize)
		if _, err := os.Stat(filepath.Join(f.ahead, name)); err == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = f.fetch(ctx, name, filepath.Join(f.ahead, name), false)
		}()
	}
	wg.Wait()
}

// errPartialMoved is fetch's error when only a partial copy failed: the
// shipper replaces a partial copy in place every few seconds (and removes
// it once the whole segment is stored), so a reader can meet a copy newer
// than the catalog row it read, or none at all.
var errPartialMoved = errors.New("only a partial copy failed (the shipper replaces it every few seconds; read again from the catalog)")

// partialRetries is how many times fetchLive reads the catalog again
// after errPartialMoved; partialRetryWait, how long it waits first (times
// the attempt): a shipper replaces a copy in well under a second.
const (
	partialRetries   = 5
	partialRetryWait = 200 * time.Millisecond
)

// fetchLive is fetch for the file PostgreSQL asks for, read again from the
// catalog when the partial copy it found moved while it was read (the
// archive of a live server: the segment being written is shipped again
// and again, then replaced by the whole one).
func (f *fetcher) fetchLive(ctx context.Context, name, dest string) error {
	for attempt := 1; ; attempt++ {
		err := f.fetch(ctx, name, dest, true)
		if !errors.Is(err, errPartialMoved) || attempt > partialRetries {
			return err
		}
		if f.wait(ctx, attempt) != nil {
			return err
		}
	}
}

// fetch writes the file name to dest (through a temporary file beside
// it); withPartial: a segment's partial copy stands in for it (only for
// what PostgreSQL asks: a partial copy fetched ahead could be outdated),
// and only when no place holds the whole segment at all — a whole one
// that fails is an error, never replaced by a shorter copy. A file the
// catalog records but no place holds is an error too, not "absent":
// recovery must stop there, not end there.
func (f *fetcher) fetch(ctx context.Context, name, dest string, withPartial bool) error {
	candidates, err := locateWAL(ctx, f.store, f.systemID, name)
	if err != nil {
		return err
	}
	tmp := dest + ".rgz-fetch"
	defer os.Remove(tmp)
	var failed []error
	var recordedMissing []string
	onlyPartial := true // every failure so far was a partial copy's
	for _, c := range candidates {
		if c.partial && (!withPartial || len(failed) > 0) {
			continue
		}
		if c.encrypted && f.dec == nil {
			if f.anywhere(ctx, c.key) {
				failed = append(failed, fmt.Errorf("%s is encrypted: set BACKUP_ENCRYPTION_IDENTITY_FILE", c.key))
			}
			continue
		}
		var out *os.File
		sink := func() (io.Writer, error) {
			if out != nil {
				out.Close()
			}
			var err error
			out, err = os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			return out, err
		}
		decrypter := f.dec
		if !c.encrypted {
			decrypter = nil
		}
		err := sealed.Fetch(ctx, f.stores, c.key, c.format, decrypter, c.want, sink)
		if out != nil {
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		if errors.Is(err, sealed.ErrNotFound) {
			if c.recorded {
				recordedMissing = append(recordedMissing, c.key)
				onlyPartial = onlyPartial && c.partial
			}
			continue
		}
		if err != nil && c.partial && c.recorded && f.laterRowHolds(ctx, name, tmp) {
			err = nil // what was read is the copy the catalog records now
		}
		if err == nil && c.segment != nil {
			err = checkSegment(tmp, *c.segment, f.systemID)
		}
		if err != nil {
			failed = append(failed, err)
			onlyPartial = onlyPartial && c.partial
			continue
		}
		return os.Rename(tmp, dest)
	}
	if len(recordedMissing) > 0 {
		failed = append(failed, fmt.Errorf("the catalog records %s but no place of the archive holds it", strings.Join(recordedMissing, ", ")))
	}
	if len(failed) > 0 {
		if onlyPartial && fromCatalog(candidates) {
			failed = append(failed, errPartialMoved)
		}
		return errors.Join(failed...)
	}
	return fmt.Errorf("%s: %w", name, ErrWALNotFound)
}

// laterRowHolds says whether the catalog, read again, records what tmp
// holds as name's partial copy. The shipper replaces a partial copy in a
// place before it records the new one (after every place holds it and
// each copy is read back): a copy read in between is newer than the row
// read before it, and reading it again could meet the next one, for ever
// when a read takes longer than BACKUP_PITR_SHIP_SECONDS. The row that
// follows vouches for it instead: its content's SHA-256 is the one the
// catalog records. A copy read short, or one the catalog never records,
// matches no row.
func (f *fetcher) laterRowHolds(ctx context.Context, name, tmp string) bool {
	data, err := os.ReadFile(tmp)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	for attempt := 1; attempt <= partialRetries; attempt++ {
		if f.wait(ctx, 0) != nil {
			return false
		}
		candidates, err := locateWAL(ctx, f.store, f.systemID, name)
		if err != nil {
			return false
		}
		for _, c := range candidates {
			if c.partial && c.recorded && c.want.RawSHA256 == got {
				return true
			}
		}
	}
	return false
}

// fromCatalog says whether candidates came from the catalog (only then can a
// new read of it find what moved).
func fromCatalog(candidates []stored) bool {
	return len(candidates) > 0 && candidates[0].recorded
}

// anywhere says whether some place holds key (a place that cannot say
// counts as holding it: better stop than end recovery early).
func (f *fetcher) anywhere(ctx context.Context, key string) bool {
	for _, st := range f.stores {
		if _, err := st.Stat(ctx, key); !errors.Is(err, destination.ErrNotFound) {
			return true
		}
	}
	return false
}

// locateWAL is where name may be: the catalog's rows (a whole segment
// before a partial copy), or, without the catalog, every key the archive
// could have given it.
func locateWAL(ctx context.Context, store *catalog.Store, systemID uint64, name string) ([]stored, error) {
	var seg *wal.Segment
	file := walship.File{Name: name}
	if tli, err := wal.ParseHistoryName(name); err == nil {
		file.History, file.Timeline = true, tli
	} else if s, partial, err := wal.ParseSegmentName(name, wal.DefaultSegmentSize); err == nil && !partial {
		seg, file.Segment, file.Timeline = &s, s, s.Timeline
	} else if len(name) == 24 && strings.Trim(name, "0123456789ABCDEF") == "" {
		// A segment's name this version cannot read: not "absent", which
		// would end recovery early.
		return nil, fmt.Errorf("%q: %w", name, err)
	} else {
		// Another file recovery may ask for and can do without (timeline
		// 1's history, which never exists; a .backup label): absent.
		return nil, fmt.Errorf("%s: %w", name, ErrWALNotFound)
	}
	if store != nil {
		rows, err := store.FindWALFiles(ctx, systemID, name, name+wal.PartialSuffix)
		if err == nil {
			var out []stored
			// A whole segment before its partial copy.
			slices.SortStableFunc(rows, func(a, b catalog.WALFile) int {
				return cmp.Compare(b2i(a.Kind == catalog.WALPartial), b2i(b.Kind == catalog.WALPartial))
			})
			for _, r := range rows {
				out = append(out, stored{key: r.ObjectKey, format: archive.Format(r.CompressionFormat), encrypted: r.Encrypted,
					want: sealed.Expect{StoredSHA256: r.StoredSHA256, RawSHA256: r.RawSHA256}, segment: seg, partial: r.Kind == catalog.WALPartial, recorded: true})
			}
			return out, nil
		}
	}
	var out []stored
	names := []walship.File{file}
	if !file.History {
		partial := file
		partial.Name, partial.Partial = name+wal.PartialSuffix, true
		names = append(names, partial)
	}
	for _, f := range names {
		for _, format := range archive.Formats {
			for _, encrypted := range []bool{true, false} {
				ext := strings.TrimPrefix(archive.Extension(format), ".dump")
				if encrypted {
					ext += ".age"
				}
				out = append(out, stored{key: walship.Key(systemID, f, ext), format: format, encrypted: encrypted, segment: seg, partial: f.Partial})
			}
		}
	}
	return out, nil
}

// checkSegment checks a fetched segment's first page header: that
// segment, of that cluster.
func checkSegment(path string, seg wal.Segment, systemID uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, wal.HeaderSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("%s: %w", seg.Name(wal.DefaultSegmentSize), err)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = wal.Check(head, seg, wal.Expect{SystemID: systemID, SegSize: st.Size()})
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
