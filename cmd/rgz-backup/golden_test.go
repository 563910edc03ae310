package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/single-database.golden from this run")

// With only today's variables set, issue 16's several databases change
// nothing: the files a backup writes (their names, where they go), the
// catalog's tables and columns, and what the row holds. This golden file
// is today's; a change to it is a change to the platform's contract, made
// on purpose (-update-golden) and read in review.
func TestSingleDatabaseGolden(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	row, r := backupRow(t, env)
	if r.code != 0 || row.Status != catalog.StatusSuccess {
		t.Fatalf("backup: %+v", r)
	}
	stem := strings.TrimSuffix(row.Filename, ".dump.gz")
	var lines []string

	// Files: flat in BACKUP_LOCAL_DIR, named by the backup's UTC time.
	if !regexp.MustCompile(`^\d{8}_\d{6}$`).MatchString(stem) {
		t.Fatalf("file name %s", row.Filename)
	}
	dir := env["BACKUP_LOCAL_DIR"]
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, "file "+strings.ReplaceAll(rel, stem, "STEM")+" "+info.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if row.FilePath == nil || *row.FilePath != filepath.Join(dir, row.Filename) {
		t.Fatalf("file_path %v, want %s", row.FilePath, filepath.Join(dir, row.Filename))
	}
	lines = append(lines, "row file_path = BACKUP_LOCAL_DIR/STEM.dump.gz")
	if db := deref(row.DatabaseName); db == "" || !strings.Contains(env["BACKUP_DATABASE_URL"], "/"+db+"?") {
		t.Fatalf("database_name %q for %s", db, env["BACKUP_DATABASE_URL"])
	}
	lines = append(lines, "row database_name = the database of BACKUP_DATABASE_URL")
	lines = append(lines, "row target_name = "+row.TargetName)
	lines = append(lines, "row backup_type = "+row.BackupType, "row triggered_by = "+string(row.TriggeredBy),
		"row retention_class = "+string(row.RetentionClass))

	// The catalog: its tables and columns, with their types.
	store := openStore(t, env)
	cols, err := store.Columns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lines = append(lines, cols...)

	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "single-database.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-golden once)", err)
	}
	if got != string(want) {
		t.Fatalf("the single-database layout changed:\n--- got\n%s--- want\n%s", got, want)
	}
}
