package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
)

// StemLayout names a backup by its date to the second: 20260205_030015.
const StemLayout = "20060102_150405"

// maxNameTries bounds the search for a free second: an hour of taken
// names means something else is wrong.
const maxNameTries = 3600

// FreeSecond returns the first second at or after start whose name stem
// taken does not report as used. Two attempts in the same second (a fast
// failure followed by a retry, `backup || backup`) thus never share a file
// name: the second one is named a second later, in the same form.
func FreeSecond(start time.Time, taken func(stem string) (bool, error)) (time.Time, error) {
	at := start.UTC().Truncate(time.Second)
	for range maxNameTries {
		used, err := taken(at.Format(StemLayout))
		if err != nil {
			return time.Time{}, err
		}
		if !used {
			return at, nil
		}
		at = at.Add(time.Second)
	}
	return time.Time{}, fmt.Errorf("no free backup name in the %d seconds from %s", maxNameTries, start.UTC().Format(time.RFC3339))
}

// claimName gives the attempt its file name: the first second at or after
// its start that no file in the backup directory and no catalog row (of any
// status) or attempt uses. It runs under the backup lock, so no other
// attempt claims a name meanwhile.
func (r *run) claimName(ctx context.Context) error {
	at, err := FreeSecond(r.started, func(stem string) (bool, error) {
		if onDisk, err := stemOnDisk(r.cfg.LocalDir, stem); err != nil || onDisk {
			return onDisk, err
		}
		return r.store.StemTaken(ctx, stem)
	})
	if err != nil {
		return err
	}
	if !at.Equal(r.started) {
		r.o.Log.Info("backup name taken; using the next free second", "wanted", r.started.Format(StemLayout), "name", at.Format(StemLayout))
	}
	r.started = at
	name := r.fileName(at)
	path := filepath.Join(r.cfg.LocalDir, name)
	r.row.BackupDate, r.row.Filename, r.row.FilePath = at, name, &path
	return nil
}

// stemOnDisk says whether dir holds a file named stem.* (a backup of any
// format, or a sidecar), or a temporary file for one.
func stemOnDisk(dir, stem string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	for _, e := range entries {
		name := strings.TrimPrefix(e.Name(), archive.TempPrefix)
		if strings.HasPrefix(name, stem+".") {
			return true, nil
		}
	}
	return false, nil
}
