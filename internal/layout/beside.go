package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
)

// RecordTestBeside keeps a restore test's outcome beside the backup's
// dump (RestoreTestsFile), replacing an earlier record of the same test:
// on the day the catalog is lost, "prefer a backup whose restore test
// succeeded" can still be followed, and `catalog rebuild` brings the tests
// back. Nothing is written when the dump is not on disk.
func RecordTestBeside(dumpPath string, rt catalog.RestoreTest) error {
	if _, err := os.Stat(dumpPath); err != nil {
		return nil
	}
	tests, err := ReadTestsBeside(dumpPath)
	if err != nil {
		return err
	}
	kept := tests[:0]
	for _, t := range tests {
		if t.ID != rt.ID {
			kept = append(kept, t)
		}
	}
	kept = append(kept, rt)
	sort.Slice(kept, func(i, j int) bool { return kept[i].StartedAt.Before(kept[j].StartedAt) })
	b, err := json.MarshalIndent(kept, "", "  ")
	if err != nil {
		return err
	}
	return archive.WriteFileAtomic(RestoreTestsFile(dumpPath), append(b, '\n'))
}

// ReadTestsBeside reads the restore tests kept beside a dump, oldest first;
// none when there is no such file.
func ReadTestsBeside(dumpPath string) ([]catalog.RestoreTest, error) {
	b, err := os.ReadFile(RestoreTestsFile(dumpPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tests []catalog.RestoreTest
	if err := json.Unmarshal(b, &tests); err != nil {
		return nil, fmt.Errorf("%s: %w", RestoreTestsFile(dumpPath), err)
	}
	return tests, nil
}

// FailureNotePrefix starts a failure note's name. A failure note is how an
// attempt that failed while the catalog was unreachable keeps its cause
// for the next run: a hidden JSON file holding the failed row (hidden
// files are never taken for backups).
const FailureNotePrefix = ".failed-attempt-"

func failureNotePath(dir, id string) string { return filepath.Join(dir, FailureNotePrefix+id+".json") }

// WriteFailureNote keeps a failed attempt's row in dir until the catalog
// can take it.
func WriteFailureNote(dir string, row catalog.Execution) error {
	b, err := json.Marshal(row)
	if err != nil {
		return err
	}
	return archive.WriteFileAtomic(failureNotePath(dir, row.ID), b)
}

// RemoveFailureNote removes the note of attempt id, once recorded.
func RemoveFailureNote(dir, id string) { os.Remove(failureNotePath(dir, id)) }

// FailureNotes reads the notes in dir, by attempt id. An unreadable note
// is logged and left for a person to look at.
func FailureNotes(dir string, log *slog.Logger) map[string]catalog.Execution {
	paths, _ := filepath.Glob(filepath.Join(dir, FailureNotePrefix+"*.json"))
	notes := map[string]catalog.Execution{}
	for _, p := range paths {
		var row catalog.Execution
		b, err := os.ReadFile(p)
		if err == nil {
			err = json.Unmarshal(b, &row)
		}
		if err != nil || row.ID == "" || !strings.HasSuffix(p, row.ID+".json") {
			log.Warn("unreadable failure note left alone", "file", p, "error", err)
			continue
		}
		notes[row.ID] = row
	}
	return notes
}
