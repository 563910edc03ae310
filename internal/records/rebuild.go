package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// Rebuilt counts what Rebuild did.
type Rebuilt struct {
	Added        []string `json:"added"`         // file names whose rows were re-created
	Repaired     []string `json:"repaired"`      // valid backups the catalog held as failed, now success
	Present      int      `json:"present"`       // manifests whose rows were already there
	RestoreTests int      `json:"restore_tests"` // restore tests brought back from beside their backups
	// Refused are the manifests in destinations that were not taken, and
	// why: not where the tool would have put the backup they describe.
	Refused []string `json:"refused"`
}

// Rebuild re-creates the catalog rows of every backup that describes
// itself in a manifest: in BACKUP_LOCAL_DIR (and its TARGET/DATABASE
// directories), in the BACKUP_S3_* bucket (a
// backup only S3 still has is recorded with its S3 path) and in
// BACKUP_DESTINATIONS. Good rows
// already present are left alone; a row that holds a valid backup as
// failed (its catalog write failed halfway) is replaced by its manifest.
func Rebuild(ctx context.Context, store *catalog.Store, cfg config.Config) (Rebuilt, error) {
	var out Rebuilt
	seen := map[string]bool{}
	record := func(row catalog.Execution) error {
		if seen[row.ID] {
			return nil
		}
		seen[row.ID] = true
		if row.Status == catalog.StatusFailed {
			return nil // manifests are written for valid backups only
		}
		outcome, err := store.RecordValid(ctx, &row)
		switch {
		case err != nil:
			return err
		case outcome == catalog.Added:
			out.Added = append(out.Added, row.Filename)
		case outcome == catalog.Repaired:
			out.Repaired = append(out.Repaired, row.Filename)
		default:
			out.Present++
		}
		return nil
	}
	// Every place a backup is copied to, the BACKUP_S3_* bucket first:
	// its manifests also give the S3 path of backups still here.
	if err := rebuildFromDestinations(ctx, store, cfg, record, &out); err != nil {
		return out, err
	}
	// The local directory, and each database's below it when one service
	// backs up several (BACKUP_LOCAL_DIR/TARGET/DATABASE).
	dirs, err := BackupDirs(cfg.LocalDir)
	if err != nil {
		return out, err
	}
	for _, dir := range dirs {
		if err := rebuildDir(ctx, store, dir, record, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// rebuildFromDestinations records the backups whose manifests are in the
// BACKUP_S3_* bucket or BACKUP_DESTINATIONS (as deleted locally when
// their file is not here), and each copy there whose dump has the size
// its manifest records; the bucket's copy also as archive_s3_path.
//
// A manifest is taken only where the tool would have written it: beside
// its dump's key, in its database's folder (or the flat keys of one
// database), under its backup's month; its row's file_path is then where
// that backup lives below BACKUP_LOCAL_DIR, whatever the manifest says.
// Others are refused, and listed in out.Refused.
func rebuildFromDestinations(ctx context.Context, store *catalog.Store, cfg config.Config, record func(catalog.Execution) error, out *Rebuilt) error {
	opened, err := cfg.OpenDestinations(cfg.EveryPlace())
	if err != nil {
		return err
	}
	defer opened.Close()
	for i, st := range opened.Stores {
		objects, err := st.List(ctx)
		if err != nil {
			return err
		}
		sizes := map[string]int64{}
		for _, o := range objects {
			sizes[o.Name] = o.Size
		}
		for _, o := range objects {
			if !strings.HasSuffix(o.Name, layout.ManifestSuffix) {
				continue
			}
			row, err := readManifestFrom(ctx, st, o.Name)
			var garbled *json.SyntaxError
			var mistyped *json.UnmarshalTypeError
			if errors.As(err, &garbled) || errors.As(err, &mistyped) {
				out.Refused = append(out.Refused, fmt.Sprintf("%s in %s: not a manifest: %v", o.Name, st, err))
				continue
			}
			if err != nil {
				return err
			}
			dump := strings.TrimSuffix(o.Name, layout.ManifestSuffix)
			local, err := layout.LocalPathOf(row, cfg.LocalDir, dump)
			if err == nil {
				err = layout.CheckManifest(row, path.Base(o.Name))
			}
			if err != nil {
				out.Refused = append(out.Refused, fmt.Sprintf("%s in %s: %v", o.Name, st, err))
				continue
			}
			row.FilePath = &local
			if opened.Specs[i].Archive {
				url := st.String() + "/" + dump
				row.ArchiveS3Path = &url
			}
			if !onLocalDisk(row, cfg.LocalDir) && row.DeletedAt == nil {
				now := time.Now().UTC().Truncate(time.Microsecond) // only the copies have it now
				row.DeletedAt = &now
			}
			if err := record(row); err != nil {
				return err
			}
			if size, ok := sizes[dump]; ok && row.FileSizeBytes != nil && size == *row.FileSizeBytes {
				now := time.Now().UTC()
				if err := store.RecordCopy(ctx, catalog.Copy{BackupID: row.ID, Destination: st.String(), Location: dump, SizeBytes: &size, ChecksumCRC32: row.ChecksumCRC32, VerifiedAt: &now}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func readManifestFrom(ctx context.Context, st destination.Store, name string) (catalog.Execution, error) {
	r, err := st.Open(ctx, name)
	if err != nil {
		return catalog.Execution{}, err
	}
	defer r.Close()
	var m layout.Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return catalog.Execution{}, fmt.Errorf("%s in %s: %w", name, st, err)
	}
	return m.Execution, nil
}

// BackupDirs are the directories that hold backups: dir itself, and the
// TARGET/DATABASE directories below it (several databases, issue 16).
func BackupDirs(dir string) ([]string, error) {
	below, err := filepath.Glob(filepath.Join(dir, "*", "*"))
	if err != nil {
		return nil, err
	}
	dirs := []string{dir}
	for _, d := range below {
		if st, err := os.Stat(d); err == nil && st.IsDir() && !strings.HasPrefix(filepath.Base(d), ".") {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}

// rebuildDir records the backups whose manifests are in dir, then the
// restore tests kept beside them.
func rebuildDir(ctx context.Context, store *catalog.Store, dir string, record func(catalog.Execution) error, out *Rebuilt) error {
	local, refused, err := layout.Manifests(dir)
	if err != nil {
		return err
	}
	out.Refused = append(out.Refused, refused...)
	for _, row := range local { // file_path: where each was found
		if err := record(row); err != nil {
			return err
		}
	}
	for _, row := range local {
		files, err := layout.In(row, dir)
		if err != nil {
			continue // no backup's name: never located
		}
		tests, err := layout.ReadTestsBeside(files.Dump)
		if err != nil {
			return err
		}
		for _, rt := range tests {
			if rt.Status == catalog.TestRunning || rt.BackupID != row.ID {
				continue
			}
			inserted, err := store.ImportRestoreTest(ctx, rt)
			if err != nil {
				return err
			}
			if inserted {
				out.RestoreTests++
			}
		}
	}
	return nil
}

// onLocalDisk says whether a backup's file is here: where its row says
// (a database's directory below BACKUP_LOCAL_DIR), or in BACKUP_LOCAL_DIR
// itself (files brought back to a new host, whose paths differ).
func onLocalDisk(row catalog.Execution, dir string) bool {
	var places []string
	if files, err := layout.Of(row, dir); err == nil {
		places = append(places, files.Dump)
	}
	if layout.IsDumpName(row.Filename) {
		places = append(places, filepath.Join(dir, row.Filename))
	}
	for _, p := range places {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
