package pitr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/destination"
)

// SampleSize is how many WAL files the daily check reads back from each
// place, besides the newest whole segment and the oldest kept one.
const SampleSize = 4

// CheckArchive is the daily check of cluster systemID's archive: every
// gap in the catalog's WAL from the oldest kept base backup on
// (pitrplan.Archive.Gaps: one a lost slot explains is said, and is no
// failure), and a sample of the files — the oldest and newest whole
// segments and SampleSize drawn at random (draw as rand.Int64N; nil: it)
// — read back from every place and checked against the SHA-256 the
// catalog recorded. A gap nobody told of, or a file missing or different
// in a place, fails it.
func CheckArchive(ctx context.Context, store *catalog.Store, stores []destination.Store, systemID uint64, now time.Time, draw func(int64) int64) (catalog.ArchiveCheck, error) {
	if draw == nil {
		draw = rand.Int64N
	}
	host, _ := os.Hostname()
	c := catalog.ArchiveCheck{ID: uuid.New(), SystemID: systemID, CheckedAt: now, Status: catalog.TestSuccess,
		Gaps: []string{}, Problems: []string{}, Places: len(stores), Hostname: host}
	arch, err := FromCatalog(ctx, store, systemID)
	if err != nil {
		return c, err
	}
	// A gap fails the check until it is told and healed: a lost slot's was
	// told when it happened; another, by the check that first listed it,
	// and once a base backup restores past it, it is listed only.
	told := map[string]bool{}
	if checks, err := store.LastArchiveChecks(ctx); err == nil {
		for _, prev := range checks {
			if prev.SystemID == systemID {
				for _, g := range prev.Gaps {
					told[g] = true
				}
			}
		}
	}
	for _, g := range arch.Gaps() {
		c.Gaps = append(c.Gaps, g.String())
		if g.Known || g.Healed && told[g.String()] {
			continue
		}
		c.Problems = append(c.Problems, "the archive lacks "+g.String()+": no moment after it is restorable from the base backups before it")
	}
	files, err := store.WALFiles(ctx, systemID)
	if err != nil {
		return c, fmt.Errorf("catalog: %w", err)
	}
	for _, f := range Sample(files, SampleSize, draw) {
		c.FilesSampled++
		for _, s := range stores {
			if problem := checkCopy(ctx, s, f); problem != "" {
				c.Problems = append(c.Problems, problem)
			}
		}
	}
	if len(c.Problems) > 0 {
		c.Status = catalog.TestFailed
	}
	return c, nil
}

// Sample are the whole segments the check reads: the oldest, the newest,
// and n others drawn at random (fewer when there are not so many).
func Sample(files []catalog.WALFile, n int, draw func(int64) int64) []catalog.WALFile {
	var whole []catalog.WALFile
	for _, f := range files {
		if f.Kind == catalog.WALSegment {
			whole = append(whole, f)
		}
	}
	if len(whole) <= n+2 {
		return whole
	}
	slices.SortFunc(whole, func(x, y catalog.WALFile) int {
		if x.SegmentNo != y.SegmentNo {
			return cmpUint(x.SegmentNo, y.SegmentNo)
		}
		return cmpUint(uint64(x.Timeline), uint64(y.Timeline))
	})
	out := []catalog.WALFile{whole[0], whole[len(whole)-1]}
	middle := slices.Clone(whole[1 : len(whole)-1])
	for range n {
		i := draw(int64(len(middle)))
		out = append(out, middle[i])
		middle = slices.Delete(middle, int(i), int(i)+1)
	}
	return out
}

func cmpUint(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// checkCopy reads f's copy in place s and says what is wrong with it ("":
// nothing).
func checkCopy(ctx context.Context, s destination.Store, f catalog.WALFile) string {
	r, err := s.Open(ctx, f.ObjectKey)
	if errors.Is(err, destination.ErrNotFound) {
		return fmt.Sprintf("%s lacks %s", s, f.FileName)
	}
	if err != nil {
		return fmt.Sprintf("%s: %s cannot be read: %v", s, f.FileName, err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return fmt.Sprintf("%s: %s cannot be read: %v", s, f.FileName, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.StoredSHA256 {
		return fmt.Sprintf("%s: %s differs from what was shipped (SHA-256 %s, recorded %s)", s, f.FileName, got, f.StoredSHA256)
	}
	return ""
}
