package offsite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/lock"
)

// File is one local file of a backup to copy: the dump, whose size and
// CRC32 the catalog recorded (Want), or a sidecar (Want zero: measured
// from the file itself, so that the copy is at least the file as it is).
type File struct {
	Path string // on local disk
	Name string // in every destination (destination.Name)
	Want destination.Want
}

// Files are a backup's local files as they go to every destination: the
// dump, checked against the row's size and CRC32, then its sidecars that
// exist (the .sha256 always does; globals, manifest and restore tests
// may not yet).
func Files(row catalog.Execution, dir string) ([]File, error) {
	want := destination.Want{}
	if row.FileSizeBytes != nil {
		want.Size = *row.FileSizeBytes
	}
	if row.ChecksumCRC32 == nil {
		return nil, fmt.Errorf("%s records no CRC32 to check a copy against", row.Filename)
	}
	if _, err := fmt.Sscanf(*row.ChecksumCRC32, "%08x", &want.CRC32); err != nil {
		return nil, fmt.Errorf("%s: checksum_crc32 %q: %w", row.Filename, *row.ChecksumCRC32, err)
	}
	files, err := layout.Of(row, dir)
	if err != nil {
		return nil, err
	}
	folder := layout.Folder(row)
	out := []File{{Path: files.Dump, Name: destination.Name(folder, row.BackupDate, row.Filename), Want: want}}
	for _, p := range files.Sidecars() {
		if _, err := os.Stat(p); err == nil {
			out = append(out, File{Path: p, Name: destination.Name(folder, row.BackupDate, filepath.Base(p))})
		} else if p == files.SHA256 {
			return nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
	}
	return out, nil
}

// Target is a place to send a backup's files to, and until when its
// copies must stay immutable there (zero: no lock).
type Target struct {
	Store       destination.Store
	RetainUntil time.Time
}

// Sent is what one destination did with a backup's files.
type Sent struct {
	Destination string // its URL, no secret
	Bytes       int64
	Took        time.Duration
	Err         error // nil: every file is there, verified
}

// Send copies files to every target at once, each target's files one
// after the other (the dump first), each verified before it counts. A
// target that fails does not stop the others; its Sent says why.
func Send(ctx context.Context, targets []Target, files []File) []Sent {
	out := make([]Sent, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			n, err := sendAll(ctx, t, files)
			out[i] = Sent{Destination: t.Store.String(), Bytes: n, Took: time.Since(began), Err: err}
		}()
	}
	wg.Wait()
	return out
}

func sendAll(ctx context.Context, t Target, files []File) (int64, error) {
	var total int64
	for _, f := range files {
		n, err := sendOne(ctx, t, f)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func sendOne(ctx context.Context, t Target, f File) (int64, error) {
	file, err := lock.OpenForReading(f.Path) // retention waits
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(f.Path), err)
	}
	defer file.Close()
	src, err := destination.File(file)
	if err != nil {
		return 0, err
	}
	want := f.Want
	if want == (destination.Want{}) {
		crc, err := destination.CRC32(ctx, file)
		if err != nil {
			return 0, err
		}
		want = destination.Want{Size: src.Size(), CRC32: crc}
	}
	if err := t.Store.Put(ctx, f.Name, src, destination.PutOptions{Want: want, RetainUntil: t.RetainUntil}); err != nil {
		return 0, err
	}
	return src.Size(), nil
}
