package offsite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/retention"
)

// Open opens the destinations of BACKUP_DESTINATIONS (none: an empty set).
func Open(cfg config.Config) (destination.Opened, error) {
	return destination.OpenAll(cfg.Destinations.List, cfg.Destinations.Credentials())
}

// Files are a backup's local files as they go to every destination: the
// dump, checked against the row's size and CRC32, then its sidecars.
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
	files := layout.Of(row, dir)
	out := []File{{Path: files.Dump, Name: destination.Name(row.BackupDate, row.Filename), Want: want}}
	for _, p := range files.Sidecars() {
		if _, err := os.Stat(p); err == nil {
			out = append(out, File{Path: p, Name: destination.Name(row.BackupDate, filepath.Base(p))})
		}
	}
	return out, nil
}

// Spread copies a good backup to every destination that lacks a verified
// copy of it (and takes it: compliance=false destinations take no
// compliance copy), in parallel, and records each outcome in
// backup_copies. It returns why each destination still lacks one.
func Spread(ctx context.Context, store *catalog.Store, places destination.Opened, cfg config.Config, row catalog.Execution, log *slog.Logger) []string {
	if len(places.Stores) == 0 {
		return nil
	}
	have, err := store.Copies(ctx, row.ID)
	if err != nil {
		return []string{err.Error()}
	}
	verified := map[string]bool{}
	for _, c := range have {
		verified[c.Destination] = c.Verified()
	}
	var todo []destination.Store
	for i, st := range places.Stores {
		if verified[st.String()] || (!places.Specs[i].Compliance && row.RetentionClass == retention.ClassCompliance) {
			continue
		}
		todo = append(todo, st)
	}
	if len(todo) == 0 {
		return nil
	}
	files, err := Files(row, cfg.LocalDir)
	if err != nil {
		return []string{err.Error()}
	}
	var missing []string
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for _, sent := range Send(ctx, todo, files, time.Time{}) {
		c := catalog.Copy{BackupID: row.ID, Destination: sent.Destination, Location: files[0].Name}
		if sent.Err == nil {
			now, size := time.Now().UTC(), files[0].Want.Size
			c.VerifiedAt, c.SizeBytes = &now, &size
			log.Info("backup copied", "file", row.Filename, "destination", sent.Destination, "bytes", sent.Bytes, "seconds", sent.Took.Seconds())
		} else {
			msg := sent.Err.Error()
			c.LastError = &msg
			missing = append(missing, "copy to "+sent.Destination+" failed: "+msg)
			log.Warn("backup not copied: partial", "file", row.Filename, "destination", sent.Destination, "error", sent.Err)
		}
		if err := store.RecordCopy(recordCtx, c); err != nil {
			missing = append(missing, err.Error())
		}
	}
	return missing
}

// settle gives a row the status its copies call for: partial with every
// reason while any copy is missing, success once none is.
func settle(ctx context.Context, store *catalog.Store, row catalog.Execution, reasons []string) (catalog.Execution, error) {
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if len(reasons) == 0 {
		if row.Status == catalog.StatusPartial {
			if err := store.SetSuccess(recordCtx, row.ID); err != nil {
				return row, err
			}
			row.Status, row.ErrorMessage = catalog.StatusSuccess, nil
		}
		return row, nil
	}
	reason := strings.Join(reasons, "; ")
	if err := store.SetPartial(recordCtx, row.ID, reason); err != nil {
		return row, errors.Join(errors.New(reason), err)
	}
	row.Status, row.ErrorMessage = catalog.StatusPartial, &reason
	return row, errors.New(reason)
}

// Fetch copies a backup's dump from the first destination that holds it
// into a hidden temporary file in dir (removed by the next backup if we
// die) and returns its path and the destination's URL. from, when set,
// chooses: a destination's URL, or its kind (file, sftp, azblob). A copy
// is checked like the local file it stands for, by the caller.
func Fetch(ctx context.Context, cfg config.Config, dir string, row catalog.Execution, from string) (path, where string, err error) {
	return FetchFile(ctx, cfg, dir, row.BackupDate, row.Filename, from)
}

// FetchFile is Fetch for any file of the backup taken at backupDate (its
// globals, say).
func FetchFile(ctx context.Context, cfg config.Config, dir string, backupDate time.Time, file, from string) (path, where string, err error) {
	opened, err := Open(cfg)
	if err != nil {
		return "", "", err
	}
	defer opened.Close()
	name := destination.Name(backupDate, file)
	var problems []string
	for i, st := range opened.Stores {
		if from != "" && from != opened.Specs[i].URL && from != opened.Specs[i].Kind {
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
