package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The man pages make package ships: one per verb, the --help text intact
// (variable names not turned italic by the Markdown step), reproducible.
func TestManPages(t *testing.T) {
	t.Parallel()
	dir1, dir2 := t.TempDir(), t.TempDir()
	for _, dir := range []string{dir1, dir2} {
		if r := rgz(t, map[string]string{}, "man", dir); r.code != 0 {
			t.Fatalf("man %s: %+v", dir, r)
		}
	}
	read := func(dir, name string) string {
		t.Helper()
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	for _, verb := range []string{"", "-backup", "-serve", "-restore", "-restore-test", "-verify", "-config", "-catalog-rebuild", "-version"} {
		name := "rgz-backup" + verb + ".1.gz"
		page := read(dir1, name)
		if !strings.Contains(page, `.TH "RGZ-BACKUP`+strings.ToUpper(verb)+`" "1"`) {
			t.Errorf("%s has no man header:\n%.300s", name, page)
		}
		a, _ := os.ReadFile(filepath.Join(dir1, name))
		b, _ := os.ReadFile(filepath.Join(dir2, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", name)
		}
	}
	root := read(dir1, "rgz-backup.1.gz")
	for _, want := range []string{"BACKUP_LOCAL_DIR", "POSTGRES_PASSWORD", "BACKUP_S3_SECRET_ACCESS_KEY", "Exit codes"} {
		if !strings.Contains(root, want) {
			t.Errorf("rgz-backup(1) lacks %q", want)
		}
	}
	if strings.Contains(root, `BACKUP\fI`) || strings.Contains(read(dir1, "rgz-backup-verify.1.gz"), `BACKUP\fI`) {
		t.Error("Markdown turned part of a variable name italic")
	}
	entries, _ := os.ReadDir(dir1)
	for _, e := range entries {
		if strings.Contains(e.Name(), "help") || strings.Contains(e.Name(), "-man.") {
			t.Errorf("%s: help and the hidden man command get no page", e.Name())
		}
	}
}
