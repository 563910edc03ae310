package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
)

// RecordTestBeside keeps a restore test's outcome beside the backup's
// dump (catalog.RestoreTestsFile), replacing an earlier record of the same
// test: on the day the catalog is lost, "prefer a backup whose restore
// test succeeded" can still be followed, and `catalog rebuild` brings the
// tests back. Nothing is written when the dump is not on disk.
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
	return archive.WriteFileAtomic(catalog.RestoreTestsFile(dumpPath), append(b, '\n'))
}

// ReadTestsBeside reads the restore tests kept beside a dump, oldest first;
// none when there is no such file.
func ReadTestsBeside(dumpPath string) ([]catalog.RestoreTest, error) {
	b, err := os.ReadFile(catalog.RestoreTestsFile(dumpPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tests []catalog.RestoreTest
	if err := json.Unmarshal(b, &tests); err != nil {
		return nil, fmt.Errorf("%s: %w", catalog.RestoreTestsFile(dumpPath), err)
	}
	return tests, nil
}
