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

// Fetched is a copy read from a destination into a file of dir that no
// name reaches (archive.Unnamed): nothing of it outlives the process,
// however it ends. Path opens it again in this process; Close frees it.
type Fetched struct {
	File  *os.File
	Where string // the place's URL, no secret
}

// Path is where this process reads the copy (archive.Reopen).
func (f *Fetched) Path() string { return archive.Reopen(f.File) }

// Close frees the copy.
func (f *Fetched) Close() error { return f.File.Close() }

// Fetch copies a backup's dump from the first place that holds it (the
// BACKUP_S3_* bucket, then BACKUP_DESTINATIONS in order) into dir, unnamed;
// nil when no place has it. from, when set, chooses: a destination's URL,
// or its kind (s3, file, sftp, azblob). A copy is checked like the local
// file it stands for, by the caller.
func Fetch(ctx context.Context, cfg config.Config, dir string, row catalog.Execution, from string) (*Fetched, error) {
	return FetchFile(ctx, cfg, dir, row, row.Filename, from)
}

// FetchFile is Fetch for any file of the backup row (its globals, say).
func FetchFile(ctx context.Context, cfg config.Config, dir string, row catalog.Execution, file, from string) (*Fetched, error) {
	names, err := layout.NamesOf(row)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names.All(), file) {
		return nil, fmt.Errorf("%.80q is not a file of backup %s", file, row.Filename)
	}
	opened, err := cfg.OpenDestinations(cfg.DestinationsFor(row.TargetName)) // its target's own places, when it has some
	if err != nil {
		return nil, err
	}
	defer opened.Close()
	name := destination.Name(layout.Folder(row), row.BackupDate, file)
	var problems []string
	for i, st := range opened.Stores {
		if !Chosen(opened.Specs[i], from) {
			continue
		}
		f, err := fetchFrom(ctx, st, name, dir)
		if errors.Is(err, destination.ErrNotFound) {
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		return &Fetched{File: f, Where: st.String()}, nil
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return nil, nil
}

// Chosen says whether --from names spec: empty (any), its URL or its kind.
func Chosen(spec destination.Spec, from string) bool {
	return from == "" || from == spec.URL || from == string(spec.Kind)
}

func fetchFrom(ctx context.Context, st destination.Store, name, dir string) (*os.File, error) {
	r, err := st.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tmp, err := archive.Unnamed(dir)
	if err != nil {
		return nil, err
	}
	if _, err = io.CopyBuffer(tmp, r, make([]byte, 1<<20)); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("fetch %s from %s: %w", name, st, err)
	}
	return tmp, nil
}
