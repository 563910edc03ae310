package offsite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mosaique/rgz-backup/internal/destination"
)

// File is one local file of a backup to copy: the dump, whose size and
// CRC32 the catalog recorded (Want), or a sidecar (Want zero: measured
// from the file itself, so that the copy is at least the file as it is).
type File struct {
	Path string // on local disk
	Name string // in every destination (destination.Name)
	Want destination.Want
}

// Sent is what one destination did with a backup's files.
type Sent struct {
	Destination string // its URL, no secret
	Bytes       int64
	Took        time.Duration
	Err         error // nil: every file is there, verified
}

// Send copies files to every store at once, each store's files one after
// the other (the dump first), each verified before it counts. A store
// that fails does not stop the others; its Sent says why.
func Send(ctx context.Context, stores []destination.Store, files []File, retainUntil time.Time) []Sent {
	out := make([]Sent, len(stores))
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			n, err := sendAll(ctx, st, files, retainUntil)
			out[i] = Sent{Destination: st.String(), Bytes: n, Took: time.Since(began), Err: err}
		}()
	}
	wg.Wait()
	return out
}

func sendAll(ctx context.Context, st destination.Store, files []File, retainUntil time.Time) (int64, error) {
	var total int64
	for _, f := range files {
		n, err := sendOne(ctx, st, f, retainUntil)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func sendOne(ctx context.Context, st destination.Store, f File, retainUntil time.Time) (int64, error) {
	file, err := os.Open(f.Path)
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
	if err := st.Put(ctx, f.Name, src, destination.PutOptions{Want: want, RetainUntil: retainUntil}); err != nil {
		return 0, err
	}
	return src.Size(), nil
}
