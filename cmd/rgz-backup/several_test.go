package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

// BACKUP_DATABASES backs up each database it names into its own
// directory, with its own row; one that cannot be backed up (it does not
// exist) fails alone, the summary says so, and the run exits 1.
// --database takes one; verbs not built for several databases refuse.
func TestBackupSeveralDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// a holds the sample, b almost nothing: each is compared with its own
	// history, so b is no "sudden drop" after a.
	a, b := sample.Database(t, cluster, 1), cluster.NewDatabase(t)
	if _, err := cluster.Conn(t, b).Exec(ctx, "CREATE TABLE note (id int); INSERT INTO note VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	missing := a + "_gone"
	dir, nas := t.TempDir(), filepath.Join(t.TempDir(), "nas")
	env := map[string]string{
		"BACKUP_DATABASE_URL":         cluster.URL("postgres"),
		"BACKUP_DATABASES":            a + "," + b + "," + missing,
		"BACKUP_CATALOG_DATABASE_URL": cluster.URL(cluster.NewDatabase(t)),
		"BACKUP_LOCAL_DIR":            dir,
		"BACKUP_MIN_SIZE_MB":          "0",
		"BACKUP_MIN_FREE_SPACE_GB":    "0",
		"BACKUP_DESTINATIONS":         "file://" + nas, // each database's copies too
		"BACKUP_LOG_LEVEL":            "info",
	}
	srv := startMail(t)
	mailEnv(t, env, srv)
	r := rgz(t, env, "backup")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 3 databases failed: "+missing) {
		t.Fatalf("backup of three, one missing: %+v", r)
	}
	// One mail for the run, naming the database that failed and why.
	mail := waitForMail(t, srv, "Backup FAILED — 1 of 3 databases — "+missing)
	if !strings.Contains(mail.Text, missing+": failed") || !strings.Contains(mail.Text, "does not exist") ||
		!strings.Contains(mail.Text, a+": success") || !strings.Contains(mail.Text, "rgz-backup backup --database NAME") {
		t.Fatalf("the run's mail: %+v", mail)
	}
	if ms, _ := srv.Messages(); len(ms) != 1 {
		t.Fatalf("%d mails for one run, want 1", len(ms))
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TARGET") {
		t.Fatalf("summary:\n%s", r.stdout)
	}
	for _, want := range []struct{ db, status string }{{a, "success"}, {b, "success"}, {missing, "failed"}} {
		found := false
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			found = found || (f[0] == "default" && f[1] == want.db && f[2] == want.status)
		}
		if !found {
			t.Fatalf("no %s %s in the summary:\n%s", want.db, want.status, r.stdout)
		}
	}
	store := openStore(t, env)
	rows := catalogRows(t, store)
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, row := range rows {
		db := deref(row.DatabaseName)
		if row.TargetName != catalog.DefaultTarget || (db != a && db != b && db != missing) {
			t.Fatalf("row %s: target %q, database %q", row.Filename, row.TargetName, db)
		}
		if row.Status != catalog.StatusSuccess {
			if db != missing {
				t.Fatalf("%s: %s %v", db, row.Status, deref(row.ErrorMessage))
			}
			continue
		}
		if want := filepath.Join(dir, "default", db, row.Filename); row.FilePath == nil || *row.FilePath != want {
			t.Fatalf("%s: file %v, want %s", db, row.FilePath, want)
		}
		if _, err := os.Stat(*row.FilePath); err != nil {
			t.Fatal(err)
		}
		if row.Suspect {
			t.Fatalf("%s: suspect %v", db, row.SuspectReasons)
		}
	}
	// Globals: dumped once for the run, kept beside each database's backup.
	if n := strings.Count(r.stderr, "globals dumped once for the run"); n != 1 {
		t.Fatalf("the server's globals dumped %d times for one run, want once:\n%s", n, r.stderr)
	}
	for _, row := range rows {
		if row.Status == catalog.StatusSuccess {
			if row.GlobalsFilename == nil {
				t.Fatalf("%s has no globals", row.Filename)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(*row.FilePath), *row.GlobalsFilename)); err != nil {
				t.Fatalf("%s's globals: %v", row.Filename, err)
			}
			// Its copies go below TARGET/DATABASE in every destination.
			copied := filepath.Join(nas, "default", deref(row.DatabaseName), row.BackupDate.UTC().Format("2006/01"), row.Filename)
			if _, err := os.Stat(copied); err != nil {
				t.Fatalf("the copy of %s: %v", row.Filename, err)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.dump.gz")); len(left) > 0 {
		t.Fatalf("files in the flat layout: %v", left)
	}

	one := rgz(t, env, "backup", "--database", b, "--json")
	var only []catalog.Execution
	if one.code != 0 || json.Unmarshal([]byte(one.stdout), &only) != nil || len(only) != 1 || deref(only[0].DatabaseName) != b {
		t.Fatalf("backup --database: %+v", one)
	}
	if r := rgz(t, env, "backup", "--database", "nope"); r.code != 2 || !strings.Contains(r.stderr, "--database") {
		t.Fatalf("backup --database nope: %+v", r)
	}
	if l := rgz(t, env, "list"); l.code != 0 || strings.Count(l.stdout, "success") != 3 {
		t.Fatalf("list: %+v", l)
	}
	if v := rgz(t, env, "verify", "--all"); v.code != 0 || strings.Count(v.stdout, "OK   ") != 3 {
		t.Fatalf("verify --all with several databases: %+v", v)
	}
	if v := rgz(t, env, "verify", only[0].Filename, "--from", "file"); v.code != 0 {
		t.Fatalf("verify of a database's copy in a destination: %+v", v)
	}
	if r := rgz(t, env, "retention", "--dry-run"); r.code != 0 {
		t.Fatalf("retention with several databases: %+v", r)
	}
	if r := rgz(t, env, "archive"); r.code != 0 || !strings.Contains(r.stdout, "No partial backups") {
		t.Fatalf("archive with several databases: %+v", r)
	}
	restored := b + "_restored"
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), restored) })
	if r := rgz(t, env, "restore", only[0].Filename, "--target-db", restored, "--create", "--with-globals"); r.code != 0 ||
		!strings.Contains(r.stdout, "every table and row count matches") {
		t.Fatalf("restore of %s's backup: %+v", b, r)
	}
	// The catalog unreachable: verify reads every database's manifests.
	lost := maps.Clone(env)
	lost["BACKUP_CATALOG_DATABASE_URL"] = "postgres://nobody@" + freeAddr(t) + "/gone"
	if v := rgz(t, lost, "verify", "--all"); v.code != 0 || strings.Count(v.stdout, "OK   ") != 3 {
		t.Fatalf("verify --all without the catalog, several databases: %+v", v)
	}
	// The catalog lost: rebuild finds every database's manifests in its
	// own directory.
	catalogDB := dbName(env["BACKUP_CATALOG_DATABASE_URL"])
	store.Close()
	if err := cluster.DropDatabase(ctx, catalogDB); err != nil {
		t.Fatal(err)
	}
	if err := cluster.CreateDatabase(ctx, catalogDB); err != nil {
		t.Fatal(err)
	}
	if r := rgz(t, env, "catalog", "rebuild"); r.code != 0 || !strings.Contains(r.stdout, "3 rows re-created") {
		t.Fatalf("catalog rebuild with several databases: %+v", r)
	}
	store = openStore(t, env)
	// (the catalog was rebuilt from the manifests: the failed rows are gone)
	if r := rgz(t, env, "status"); r.code != 0 || !regexp.MustCompile(`default +`+b+` +\S+ +success `).MatchString(r.stdout) ||
		!regexp.MustCompile(`default +`+a+` +\S+ +success `).MatchString(r.stdout) {
		t.Fatalf("status with several databases: %+v", r)
	}

	// Restore tests take the databases in turn; --database chooses.
	databaseOf := map[string]string{}
	for _, row := range catalogRows(t, store) {
		databaseOf[row.ID] = deref(row.DatabaseName)
	}
	tested := map[string]bool{}
	for range 2 {
		rt := rgz(t, env, "restore-test", "--json")
		var rec catalog.RestoreTest
		if rt.code != 0 || json.Unmarshal([]byte(rt.stdout), &rec) != nil || rec.Status != catalog.TestSuccess {
			t.Fatalf("restore-test: %+v", rt)
		}
		tested[databaseOf[rec.BackupID]] = true
	}
	if !tested[a] || !tested[b] {
		t.Fatalf("two restore tests tested %v, want %s and %s", tested, a, b)
	}
	rt := rgz(t, env, "restore-test", "--database", b, "--json")
	var rec catalog.RestoreTest
	if rt.code != 0 || json.Unmarshal([]byte(rt.stdout), &rec) != nil || databaseOf[rec.BackupID] != b {
		t.Fatalf("restore-test --database %s: %+v", b, rt)
	}
}
