package offsite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// Fetch copies a backup's dump from the first place that holds it (the
// BACKUP_S3_* bucket, then BACKUP_DESTINATIONS in order) into a hidden
// temporary file in dir (removed by the next backup if we die) and
// returns its path and the place's URL; "" when no place has it. from,
// when set, chooses: a destination's URL, or its kind (s3, file, sftp,
// azblob). A copy is checked like the local file it stands for, by the
// caller.
func Fetch(ctx context.Context, cfg config.Config, dir string, row catalog.Execution, from string) (path, where string, err error) {
	return FetchFile(ctx, cfg, dir, row, row.Filename, from)
}

// FetchFile is Fetch for any file of the backup row (its globals, say).
func FetchFile(ctx context.Context, cfg config.Config, dir string, row catalog.Execution, file, from string) (path, where string, err error) {
	names, err := layout.NamesOf(row)
	if err != nil {
		return "", "", err
	}
	if !slices.Contains(names.All(), file) {
		return "", "", fmt.Errorf("%.80q is not a file of backup %s", file, row.Filename)
	}
	opened, err := Open(cfg)
	if err != nil {
		return "", "", err
	}
	defer opened.Close()
	name := destination.Name(layout.Folder(row), row.BackupDate, file)
	var problems []string
	for i, st := range opened.Stores {
		if !Chosen(opened.Specs[i], from) {
			continue
		}
		path, err := fetchFrom(ctx, st, name, dir, file)
		if errors.Is(err, destination.ErrNotFound) {
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		return path, st.String(), nil
	}
	if len(problems) > 0 {
		return "", "", errors.New(strings.Join(problems, "; "))
	}
	return "", "", nil
}

// Chosen says whether --from names spec: empty (any), its URL or its kind.
func Chosen(spec destination.Spec, from string) bool {
	return from == "" || from == spec.URL || from == spec.Kind
}

func fetchFrom(ctx context.Context, st destination.Store, name, dir, file string) (string, error) {
	r, err := st.Open(ctx, name)
	if err != nil {
		return "", err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(dir, archive.TempName(file))
	if err != nil {
		return "", err
	}
	_, err = io.CopyBuffer(tmp, r, make([]byte, 1<<20))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("fetch %s from %s: %w", name, st, err)
	}
	return tmp.Name(), nil
}
