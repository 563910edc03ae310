package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// shortDumpBinDir is a BACKUP_PG_BIN_DIR whose pg_dump runs the real one
// but writes only the first 60 % of its archive, and exits 0.
func shortDumpBinDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tools := dump.Tools{}
	for _, name := range []string{"pg_restore", "pg_dumpall", "psql"} {
		real, err := tools.Path(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	realDump, err := tools.Path("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
[ "$1" = "--version" ] && exec %[1]q "$@"
tmp=$(mktemp)
%[1]q "$@" > "$tmp" || exit $?
size=$(stat -c %%s "$tmp")
head -c $((size * 6 / 10)) "$tmp"
rm -f "$tmp"
exit 0
`, realDump)
	if err := testtool.WriteExecutable(filepath.Join(dir, "pg_dump"), []byte(script)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Issue 12, point 4: a pg_dump that exits 0 after writing 60 % of its
// archive is a failed backup, and nothing named like a backup is left.
func TestShortArchiveIsNeverPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.Vars["BACKUP_PG_BIN_DIR"] = shortDumpBinDir(t)
	row, err := e.run(Options{})
	if err == nil || row.Status != catalog.StatusFailed || !strings.Contains(err.Error(), "archive unreadable to its end") {
		t.Fatalf("a short archive: %+v, %v", row.Status, err)
	}
	for _, f := range e.files() {
		if !strings.HasPrefix(f, ".") {
			t.Fatalf("a failed attempt left %s", f)
		}
	}
}

// verify reads every data block too: an archive short of its end, whose
// checksums were computed over the short stream, does not verify.
func TestVerifyReadsTheArchiveToItsEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	row := e.good()
	ctx := context.Background()
	var raw bytes.Buffer
	if _, err := archive.Check(ctx, *row.FilePath, "gzip", &raw); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{raw.Len() * 6 / 10, raw.Len() - 1} {
		short := filepath.Join(t.TempDir(), "short.dump.gz")
		w, err := archive.Create(filepath.Dir(short), filepath.Base(short), archive.Gzip, 1)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(raw.Bytes()[:cut])
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		_, _, err = filecheck.File(ctx, dump.Tools{}, short, "gzip")
		if err == nil || !strings.Contains(err.Error(), "archive unreadable to its end") {
			t.Fatalf("cut at %d of %d bytes: %v", cut, raw.Len(), err)
		}
	}
	if _, _, err := filecheck.File(ctx, dump.Tools{}, *row.FilePath, "gzip"); err != nil {
		t.Fatalf("the whole archive: %v", err)
	}
}
