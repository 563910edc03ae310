package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// dbName is the database a libpq URL names.
func dbName(raw string) string {
	u, _ := url.Parse(raw)
	return strings.TrimPrefix(u.Path, "/")
}

// restore --create into a new name reproduces the source exactly, with the
// catalog or, once it is dropped, from the manifest alone (and the globals
// applied first); a database that holds tables is refused without --clean.
func TestRestoreForDisasterRecovery(t *testing.T) {
	env := sampleEnv(t)
	r := rgz(t, env, "backup", "--json")
	var row catalog.Execution
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &row) != nil {
		t.Fatalf("backup: %+v", r)
	}
	src := dbName(env["BACKUP_DATABASE_URL"])

	target := "restored_" + strings.ToLower(row.Filename[:15])
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), target) })
	res := rgz(t, env, "restore", row.Filename, "--target-db", target, "--create", "--jobs", "2")
	if res.code != 0 || !strings.Contains(res.stdout, "every table and row count matches") ||
		!strings.Contains(res.stderr, "verifying checksums") || !strings.Contains(res.stderr, "restoring: parallel pg_restore -j 2") {
		t.Fatalf("restore --create: %+v", res)
	}
	if cluster.SchemaOnly(t, target) != cluster.SchemaOnly(t, src) {
		t.Fatal("the restored schema differs from the source's")
	}

	// Into a database with tables, without --clean: refused, nothing written.
	refused := rgz(t, env, "restore", row.Filename, "--target-db", src)
	if refused.code != 1 || !strings.Contains(refused.stderr, "without --clean") {
		t.Fatalf("restore into a database with tables: %+v", refused)
	}
	if again := rgz(t, env, "restore", row.Filename, "--target-db", target, "--create"); again.code != 1 || !strings.Contains(again.stderr, "already exists") {
		t.Fatalf("--create over an existing database: %+v", again)
	}

	// The catalog is lost with its database: the manifest is enough.
	if err := cluster.DropDatabase(context.Background(), dbName(env["BACKUP_CATALOG_DATABASE_URL"])); err != nil {
		t.Fatal(err)
	}
	second := target + "_2"
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), second) })
	res = rgz(t, env, "restore", row.Filename, "--target-db", second, "--create", "--with-globals", "--json")
	var out struct {
		Mismatches []string `json:"mismatches"`
		Seconds    int      `json:"duration_seconds"`
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &out) != nil || len(out.Mismatches) != 0 || !strings.Contains(res.stderr, "catalog unreachable") ||
		!strings.Contains(res.stderr, "applying the globals") {
		t.Fatalf("restore without a catalog: %+v", res)
	}
	if cluster.SchemaOnly(t, second) != cluster.SchemaOnly(t, src) {
		t.Fatal("the schema restored without a catalog differs")
	}
}

func TestRestoreUsageErrors(t *testing.T) {
	env := sampleEnv(t)
	for _, args := range [][]string{{"restore"}, {"restore", "x.dump.gz"}, {"restore", "x.dump.gz", "--target-db", "d", "--jobs", "-1"},
		{"restore", "x.dump.gz", "--target-db", "d", "--target-url", "mysql://h/db"}} {
		if r := rgz(t, env, args...); r.code != 2 || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

// The catalog lost with its database: `catalog rebuild` brings back every
// backup's row from the manifests, local and in S3 (one backup is only in
// S3 any more).
func TestCatalogRebuildAfterLosingTheCatalog(t *testing.T) {
	env := s3Env(t)
	var before []catalog.Execution
	for range 3 {
		row, r := backupRow(t, env)
		if r.code != 0 || row.Status != "success" {
			t.Fatalf("backup: %+v", r)
		}
		before = append(before, row)
	}
	for _, f := range before[0].Files("") {
		os.Remove(f) // gone from the local disk; S3 still has it
	}
	catalogDB := dbName(env["BACKUP_CATALOG_DATABASE_URL"])
	if err := cluster.DropDatabase(context.Background(), catalogDB); err != nil {
		t.Fatal(err)
	}
	if err := cluster.CreateDatabase(context.Background(), catalogDB); err != nil {
		t.Fatal(err)
	}
	r := rgz(t, env, "catalog", "rebuild")
	if r.code != 0 || !strings.Contains(r.stdout, "3 rows re-created, 0 already there") {
		t.Fatalf("rebuild: %+v", r)
	}
	list := rgz(t, env, "list", "--json")
	var after []catalog.Execution
	if json.Unmarshal([]byte(list.stdout), &after) != nil || len(after) != 3 {
		t.Fatalf("list after rebuild: %+v", list)
	}
	byID := map[string]catalog.Execution{}
	for _, a := range after {
		byID[a.ID] = a
	}
	for _, b := range before {
		a, ok := byID[b.ID]
		if !ok || a.Filename != b.Filename || *a.ChecksumSHA256 != *b.ChecksumSHA256 || a.ArchiveS3Path == nil || *a.ArchiveS3Path != *b.ArchiveS3Path {
			t.Errorf("%s not brought back as it was: %+v", b.Filename, a)
		}
	}
	if byID[before[0].ID].DeletedAt == nil || byID[before[1].ID].DeletedAt != nil {
		t.Error("the backup only S3 has should be marked gone from the local disk, and only it")
	}
	if again := rgz(t, env, "catalog", "rebuild"); again.code != 0 || !strings.Contains(again.stdout, "0 rows re-created, 3 already there") {
		t.Fatalf("second rebuild: %+v", again)
	}
}
