package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
)

// RecoverAbandoned cleans up after attempts whose process died (SIGKILL,
// crash, lost host) or whose outcome the catalog refused: it removes
// temporary files left in dir and records each such attempt. One that had
// written its manifest (the last step before its row: the file was whole
// and validated) is recorded as the success it was; any other is recorded
// as failed, and what it had published is removed. Call it only while
// holding the backup lock (lock.Both): every live attempt holds that lock,
// so the attempts still listed are dead. It returns the failed ones, so
// that the daemon can retry their jobs.
func RecoverAbandoned(ctx context.Context, store *catalog.Store, dir string, now time.Time, log *slog.Logger) ([]catalog.Attempt, error) {
	if removed, _ := archive.RemoveOrphans(dir); len(removed) > 0 {
		log.Warn("removed temporary files left by an interrupted backup", "files", removed)
	}
	attempts, err := store.Attempts(ctx)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var failed []catalog.Attempt
	for _, a := range attempts {
		if done, ok := validated(a); ok {
			if err := store.Insert(ctx, &done); err != nil {
				return nil, err
			}
			log.Warn("recorded a backup whose process stopped after validating it", "file", done.Filename, "pid", a.PID, "host", a.Hostname)
			continue
		}
		failed = append(failed, a)
		row := a.Execution
		removeUnrecorded(ctx, store, row, log)
		msg := fmt.Sprintf("abandoned: the process running this attempt (pid %d on %s, started %s) stopped before it finished (killed, crashed or host lost); recorded by %s at %s",
			a.PID, a.Hostname, a.StartedAt.UTC().Format(time.RFC3339), host, now.UTC().Format(time.RFC3339))
		end := now.UTC().Truncate(time.Microsecond)
		row.Status, row.ErrorMessage, row.FinishedAt, row.CreatedAt = catalog.StatusFailed, &msg, &end, end
		row.FileSizeBytes, row.ChecksumCRC32, row.ChecksumSHA256, row.RetentionUntil = nil, nil, nil, nil
		if err := store.Insert(ctx, &row); err != nil {
			return nil, err
		}
		log.Warn("recorded an abandoned backup attempt as failed", "file", row.Filename, "attempt", row.Attempt,
			"run_id", deref(row.RunID), "pid", a.PID, "host", a.Hostname)
	}
	return failed, nil
}

// validated returns the row an attempt wrote in its manifest, which it does
// only once its file is published and valid.
func validated(a catalog.Attempt) (catalog.Execution, bool) {
	if a.Execution.FilePath == nil {
		return catalog.Execution{}, false
	}
	m, err := ReadManifest(*a.Execution.FilePath + ".manifest.json")
	if err != nil || m.ID != a.Execution.ID || m.Status != catalog.StatusSuccess {
		return catalog.Execution{}, false
	}
	if _, err := os.Stat(*a.Execution.FilePath); err != nil {
		return catalog.Execution{}, false
	}
	return m, true
}

// removeUnrecorded removes the files an abandoned attempt may have
// published before it died, as a failed attempt does: a backup without a
// success row is not one. A file some recorded backup names is kept.
func removeUnrecorded(ctx context.Context, store *catalog.Store, row catalog.Execution, log *slog.Logger) {
	if row.FilePath == nil {
		return
	}
	if _, err := store.ByFilename(ctx, row.Filename); !errors.Is(err, catalog.ErrNotFound) {
		return // recorded (or the catalog cannot say): not ours to remove
	}
	for _, f := range row.Files("") {
		if err := os.Remove(f); err == nil {
			log.Warn("removed a file published by an abandoned attempt", "file", f)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
