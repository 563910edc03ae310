package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

// hostileDatabases are names whoever may CREATE DATABASE can give, each
// one a path or a key of its own if joined raw.
var hostileDatabases = []string{
	"rgz", "../../somewhere", "..", ".", "a/b", `a\b`, ".hidden", "tab\there", "new\nline",
	"é", "e\u0301", "%2E", "-h", strings.Repeat("é", 31),
}

// A server whose databases have hostile names, backed up with
// BACKUP_DATABASES=*, encrypted, copied to a directory and to S3: each
// database lands in its own folder (layout.DatabaseDir) and its own keys;
// nothing is written, listed or deleted outside BACKUP_LOCAL_DIR and the
// destinations' roots (decoys placed where raw joins would land stay
// untouched); verify, restore by name, retention and catalog rebuild read
// the layout back.
func TestHostileDatabaseNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	own := pgtest.Own(t)
	for _, name := range hostileDatabases {
		if err := own.CreateDatabase(ctx, name); err != nil {
			t.Fatalf("create %q: %v", name, err)
		}
		conn, err := pgx.Connect(ctx, own.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := conn.Config().Copy()
		conn.Close(ctx)
		cfg.Database = name
		db, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connect to %q: %v", name, err)
		}
		if _, err := db.Exec(ctx, "CREATE TABLE whoami (name text PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO whoami VALUES ($1)", name); err != nil {
			t.Fatal(err)
		}
		db.Close(ctx)
	}

	root := t.TempDir()
	local := filepath.Join(root, "a", "b", "backups")
	nas := filepath.Join(root, "x", "y", "nas")
	// Where raw joins of "../../somewhere", "..", "a/b" would have written.
	decoys := map[string]string{}
	for _, p := range []string{filepath.Join(root, "a", "somewhere", "keep.txt"), filepath.Join(root, "x", "somewhere", "keep.txt"),
		filepath.Join(root, "a", "b", "keep.txt"), filepath.Join(root, "a", "keep.txt")} {
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, []byte("not a backup"), 0o640); err != nil {
			t.Fatal(err)
		}
		decoys[p] = "not a backup"
	}
	recipient, identity := newKeyFile(t)
	env := s3Env(t)
	for k, v := range map[string]string{
		"BACKUP_DATABASE_URL":             own.URL("postgres"),
		"BACKUP_DATABASES":                "*",
		"BACKUP_DATABASES_EXCLUDE":        "postgres",
		"BACKUP_LOCAL_DIR":                local,
		"BACKUP_DESTINATIONS":             "file://" + nas,
		"BACKUP_ENCRYPTION_RECIPIENTS":    recipient,
		"BACKUP_ENCRYPTION_IDENTITY_FILE": identity,
		"BACKUP_MAX_PARALLEL_PER_SERVER":  "2",
	} {
		env[k] = v
	}
	for run := range 2 {
		if r := rgz(t, env, "backup"); r.code != 0 {
			t.Fatalf("backup run %d: %+v", run, r)
		}
	}

	outside := func() {
		t.Helper()
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			if _, decoy := decoys[p]; decoy || layout.Within(local, p) == nil || layout.Within(nas, p) == nil {
				return nil
			}
			t.Errorf("written outside the roots: %s", p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range decoys {
			if b, err := os.ReadFile(p); err != nil || string(b) != want {
				t.Errorf("decoy %s: %q, %v", p, b, err)
			}
		}
	}
	outside()

	// Each database: two encrypted backups in its own folder, their copies
	// in its own folder of the directory and of the bucket.
	store := openStore(t, env)
	rows := catalogRows(t, store)
	byDB := map[string][]catalog.Execution{}
	for _, row := range rows {
		if row.Status != catalog.StatusSuccess {
			t.Fatalf("%q: %s %s", deref(row.DatabaseName), row.Status, deref(row.ErrorMessage))
		}
		byDB[deref(row.DatabaseName)] = append(byDB[deref(row.DatabaseName)], row)
	}
	bucket := env["BACKUP_S3_BUCKET"]
	keys := map[string]bool{}
	for obj := range s3srv.Client().ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys[obj.Key] = true
	}
	for _, name := range hostileDatabases {
		got := byDB[name]
		if len(got) != 2 {
			t.Fatalf("%q: %d backups, want 2", name, len(got))
		}
		dir, err := layout.DatabaseDir(local, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range got {
			if !strings.HasSuffix(row.Filename, ".dump.gz.age") || row.FilePath == nil || *row.FilePath != filepath.Join(dir, row.Filename) {
				t.Fatalf("%q: %s at %v, want in %s", name, row.Filename, row.FilePath, dir)
			}
			rel := layout.FolderOf("default", name) + "/" + row.BackupDate.UTC().Format("2006/01") + "/" + row.Filename
			if _, err := os.Stat(filepath.Join(nas, filepath.FromSlash(rel))); err != nil {
				t.Errorf("%q: copy in the directory: %v", name, err)
			}
			if !keys["prod/"+rel] {
				t.Errorf("%q: no key prod/%s", name, rel)
			}
		}
	}
	for key := range keys {
		if !strings.HasPrefix(key, "prod/default/") {
			t.Errorf("key outside its database's folder: %s", key)
		}
	}

	// verify reads every one back; each restores by its file name.
	if r := rgz(t, env, "verify", "--all"); r.code != 0 {
		t.Fatalf("verify --all: %+v", r)
	}
	for i, name := range hostileDatabases {
		newest := byDB[name][0]
		into := "restored_" + string(rune('a'+i))
		r := rgz(t, env, "restore", newest.Filename, "--target-db", into, "--create")
		if r.code != 0 {
			t.Fatalf("restore %s of %q: %+v", newest.Filename, name, r)
		}
		var got string
		conn := own.Conn(t, into)
		if err := conn.QueryRow(ctx, "SELECT name FROM whoami").Scan(&got); err != nil || got != name {
			t.Fatalf("%s restored %q, want %q (%v)", newest.Filename, got, name, err)
		}
	}
	outside()

	// Retention: the older backup of each database expires (the newer one
	// its month's compliance copy); it goes from its folder, and only it.
	older := map[string]bool{}
	cat, err := pgx.Connect(ctx, env["BACKUP_CATALOG_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close(ctx)
	for _, name := range hostileDatabases {
		row, newer := byDB[name][1], byDB[name][0]
		older[row.ID] = true
		if _, err := cat.Exec(ctx, "UPDATE backup_executions SET retention_class = 'daily', retention_until = $2 WHERE id = $1",
			row.ID, time.Now().UTC().AddDate(0, 0, -2)); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.Exec(ctx, "UPDATE backup_executions SET retention_class = 'compliance' WHERE id = $1", newer.ID); err != nil {
			t.Fatal(err)
		}
	}
	env["BACKUP_MIN_KEEP"] = "1"
	if r := rgz(t, env, "retention"); r.code != 0 || !strings.Contains(r.stdout, "14 copies deleted") {
		t.Fatalf("retention: %+v", r)
	}
	for _, row := range rows {
		_, err := os.Stat(*row.FilePath)
		if gone := err != nil; gone != older[row.ID] {
			t.Errorf("%q %s: gone %v, expired %v", deref(row.DatabaseName), row.Filename, gone, older[row.ID])
		}
	}
	outside()

	// A new catalog, rebuilt from what the folders and the copies hold:
	// every backup back, under its database's name, none refused.
	env["BACKUP_CATALOG_DATABASE_URL"] = cluster.URL(cluster.NewDatabase(t))
	r := rgz(t, env, "catalog", "rebuild", "--json")
	var rebuilt struct {
		Added   []string `json:"added"`
		Refused []string `json:"refused"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rebuilt); r.code != 0 || err != nil {
		t.Fatalf("rebuild: %v %+v", err, r)
	}
	if len(rebuilt.Refused) > 0 || len(rebuilt.Added) != len(rows) {
		t.Fatalf("rebuild added %d of %d, refused %v", len(rebuilt.Added), len(rows), rebuilt.Refused)
	}
	again := catalogRows(t, openStore(t, env))
	for _, row := range again {
		i := slices.IndexFunc(rows, func(r catalog.Execution) bool { return r.ID == row.ID })
		if i < 0 || deref(rows[i].DatabaseName) != deref(row.DatabaseName) || (row.DeletedAt == nil) == older[row.ID] {
			t.Errorf("rebuilt %s: database %q, deleted %v", row.Filename, deref(row.DatabaseName), row.DeletedAt)
		}
	}
	// A restore test by a hostile name chooses that database's backup.
	r = rgz(t, env, "restore-test", "--database", "../../somewhere", "--json")
	var rt catalog.RestoreTest
	if err := json.Unmarshal([]byte(r.stdout), &rt); r.code != 0 || err != nil || rt.Status != catalog.TestSuccess ||
		rt.BackupFilename != byDB["../../somewhere"][0].Filename {
		t.Fatalf("restore-test --database ../../somewhere: %v %+v", err, r)
	}
	outside()
}
