// Package recovery records what interrupted backup attempts could not, and
// cleans up after them: temporary files removed, attempts whose process
// died recorded (as the success they were when their dump was validated,
// else as failed), failure notes recorded with their real cause, and
// valid backups the catalog lacks adopted from their manifests. Every
// backup runs it first under the backup lock, and so does the daemon at
// start.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// Abandoned records what earlier attempts could not, and cleans up
// after them: it removes temporary files left in dir, and for each attempt
// still listed in the catalog (its process died, or the catalog refused its
// outcome):
//   - one whose dump is published with its manifest (the file was whole and
//     validated) is recorded as the success it was, whatever the catalog
//     held for it;
//   - one that noted its failure in dir because the catalog was unreachable
//     is recorded with that failure's real cause;
//   - any other is recorded as failed ("abandoned"), and its sidecars are
//     removed (a validated dump is never removed: see removeUnrecorded).
//
// Then every valid backup in dir whose manifest the catalog does not know,
// or knows as failed, is recorded from its manifest (Adopt).
//
// Call it only while holding the backup lock (lock.Both): every live
// attempt holds that lock, so the attempts still listed are over. It
// returns the abandoned ones, so that the daemon can retry their jobs.
func Abandoned(ctx context.Context, store *catalog.Store, dir string, scope Scope, now time.Time, log *slog.Logger) ([]catalog.Attempt, error) {
	if removed, _ := archive.RemoveOrphans(dir); len(removed) > 0 {
		log.Warn("removed temporary files left by an interrupted backup", "files", removed)
	}
	all, err := store.Attempts(ctx)
	if err != nil {
		return nil, err
	}
	var attempts []catalog.Attempt
	for _, a := range all {
		if scope.Holds(a.Execution) {
			attempts = append(attempts, a)
		}
	}
	notes := layout.FailureNotes(dir, log)
	host, _ := os.Hostname()
	var abandoned []catalog.Attempt
	for _, a := range attempts {
		if done, ok := validated(a); ok {
			if _, err := store.RecordValid(ctx, &done); err != nil {
				return nil, err
			}
			log.Warn("recorded a valid backup whose attempt could not record it", "file", done.Filename, "pid", a.PID, "host", a.Hostname)
			continue
		}
		row := a.Execution
		if noted, ok := notes[row.ID]; ok {
			row = lateFailure(noted)
			delete(notes, row.ID)
		} else {
			abandoned = append(abandoned, a)
			msg := fmt.Sprintf("abandoned: the process running this attempt (pid %d on %s, started %s) stopped before it finished (killed, crashed or host lost); recorded by %s at %s",
				a.PID, a.Hostname, a.StartedAt.UTC().Format(time.RFC3339), host, now.UTC().Format(time.RFC3339))
			end := now.UTC().Truncate(time.Microsecond)
			row.Status, row.ErrorMessage, row.FinishedAt, row.CreatedAt = catalog.StatusFailed, &msg, &end, end
			row.FileSizeBytes, row.ChecksumCRC32, row.ChecksumSHA256, row.RetentionUntil = nil, nil, nil, nil
		}
		removeUnrecorded(ctx, store, dir, a.Execution, log)
		row.FilePath = nil // a failed attempt owns no file
		if err := store.Insert(ctx, &row); err != nil {
			return nil, err
		}
		layout.RemoveFailureNote(dir, row.ID)
		log.Warn("recorded a backup attempt that could not record its own failure", "file", row.Filename, "attempt", row.Attempt,
			"run_id", deref(row.RunID), "pid", a.PID, "host", a.Hostname, "error", deref(row.ErrorMessage))
	}
	// Notes of attempts that never reached the catalog at all.
	for id, noted := range notes {
		if _, err := store.Get(ctx, id); errors.Is(err, catalog.ErrNotFound) {
			row := lateFailure(noted)
			if err := store.Insert(ctx, &row); err != nil {
				return nil, err
			}
			log.Warn("recorded a failed attempt noted while the catalog was unreachable", "file", row.Filename, "error", deref(row.ErrorMessage))
		} else if err != nil {
			return nil, err
		}
		layout.RemoveFailureNote(dir, id)
	}
	if _, err := Adopt(ctx, store, dir, log); err != nil {
		return nil, err
	}
	return abandoned, nil
}

// Scope is whose attempts a recovery may judge: those whose lock its
// caller holds. With several databases each backup holds its own
// database's lock, and other databases' attempts may be alive.
type Scope struct {
	All              bool // the service's lock, alone: every attempt is over
	Target, Database string
}

// Everything is the scope of the service's lock held alone.
var Everything = Scope{All: true}

// Holds says whether row's attempt is in the scope.
func (s Scope) Holds(row catalog.Execution) bool {
	return s.All || (row.TargetName == s.Target && row.DatabaseName != nil && *row.DatabaseName == s.Database)
}

// validated returns the row an attempt wrote in its manifest: a manifest
// saying success beside the dump under its final name means the dump was
// validated (the manifest is written before the dump is named).
func validated(a catalog.Attempt) (catalog.Execution, bool) {
	if a.Execution.FilePath == nil {
		return catalog.Execution{}, false
	}
	return validManifest(*a.Execution.FilePath, a.Execution.ID)
}

// validManifest reads the manifest of the dump at path and returns its row
// when it says success (for the given id, unless id is empty) and the dump
// is there with the size it records.
func validManifest(path, id string) (catalog.Execution, bool) {
	m, err := layout.ReadManifest(path + layout.ManifestSuffix)
	if err != nil || (id != "" && m.ID != id) || !onDisk(path, m) {
		return catalog.Execution{}, false
	}
	return m, true
}

// onDisk says whether a manifest's row says success and its dump is at
// path with the size it records.
func onDisk(path string, m catalog.Execution) bool {
	if m.Status != catalog.StatusSuccess || m.FileSizeBytes == nil {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && st.Size() == *m.FileSizeBytes
}

// Adopt records every valid backup in dir (a manifest saying success, the
// dump there with its size) that the catalog lacks or holds as failed. It
// returns the names it recorded.
func Adopt(ctx context.Context, store *catalog.Store, dir string, log *slog.Logger) ([]string, error) {
	rows, refused, err := layout.Manifests(dir)
	if err != nil {
		log.Warn("manifests in the backup directory not read", "error", err)
		return nil, nil
	}
	for _, why := range refused {
		log.Warn("a manifest in the backup directory is not taken for a backup (left alone)", "problem", why)
	}
	ids := make([]string, len(rows))
	for i, m := range rows {
		ids[i] = m.ID
	}
	good, err := store.GoodIDs(ctx, ids) // one query, however many manifests
	if err != nil {
		return nil, err
	}
	var adopted []string
	for _, row := range rows {
		files, err := layout.In(row, dir)
		if err != nil || good[row.ID] || !onDisk(files.Dump, row) {
			continue
		}
		outcome, err := store.RecordValid(ctx, &row)
		if err != nil {
			return adopted, err
		}
		if outcome != catalog.AlreadyRecorded {
			adopted = append(adopted, row.Filename)
			log.Warn("recorded a valid backup the catalog did not have as such, from its manifest", "file", row.Filename)
		}
	}
	return adopted, nil
}

// removeUnrecorded cleans up after an attempt that ended without a valid
// backup: it removes the sidecars it wrote, and moves a dump it left under
// its final name out of the way, to a hidden name (".unverified-NAME"), for
// a person to look at. Such a dump cannot be one this version validated
// (those get their manifest before their name), and a file named like a
// backup must always verify; but a file that might hold data is never
// deleted here. Nothing that a good row owns is touched.
func removeUnrecorded(ctx context.Context, store *catalog.Store, dir string, row catalog.Execution, log *slog.Logger) {
	if owner, err := store.ByFilename(ctx, row.Filename); err == nil && owner.Status.Good() {
		return // someone else's files (never with claimed names; cheap to check)
	} else if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return // the catalog cannot say: leave them
	}
	files, err := layout.Of(row, dir)
	if err != nil {
		log.Warn("an attempt that did not finish names files outside its directory: left alone", "error", err)
		return
	}
	if _, err := os.Stat(files.Dump); err == nil {
		aside := filepath.Join(filepath.Dir(files.Dump), layout.UnverifiedPrefix+filepath.Base(files.Dump))
		if err := os.Rename(files.Dump, aside); err == nil {
			log.Warn("an attempt that did not finish left a dump without a valid manifest: moved aside, not deleted", "file", files.Dump, "now", aside)
		}
	}
	for _, f := range files.Sidecars() {
		if err := os.Remove(f); err == nil {
			log.Warn("removed a sidecar left by an attempt that did not finish", "file", f)
		}
	}
}

// lateFailure is a noted failure as it is recorded: failed, owning no file,
// and saying it was recorded late.
func lateFailure(row catalog.Execution) catalog.Execution {
	msg := deref(row.ErrorMessage) + " (recorded late: the catalog was unreachable when the attempt ended)"
	row.Status, row.ErrorMessage, row.FilePath = catalog.StatusFailed, &msg, nil
	return row
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
