package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/layout"
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
	t.Parallel()
	env := sampleEnv(t)
	row, r := backupRow(t, env)
	if r.code != 0 {
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
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &out) != nil || len(out.Mismatches) != 0 || !strings.Contains(res.stderr, "using its manifest") ||
		!strings.Contains(res.stderr, "applying the globals") {
		t.Fatalf("restore without a catalog: %+v", res)
	}
	if cluster.SchemaOnly(t, second) != cluster.SchemaOnly(t, src) {
		t.Fatal("the schema restored without a catalog differs")
	}
}

func TestRestoreUsageErrors(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	env := s3Env(t)
	var before []catalog.Execution
	for range 3 {
		row, r := backupRow(t, env)
		if r.code != 0 || row.Status != catalog.StatusSuccess {
			t.Fatalf("backup: %+v", r)
		}
		before = append(before, row)
	}
	gone, err := layout.Of(before[0], filepath.Dir(*before[0].FilePath))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gone.All() {
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

// Issue 12, point 7: the disaster-recovery path followed literally. In the
// default setup the catalog is the backed-up database; on the new server
// someone has created that database, empty. restore finds the backup by
// its manifest and writes nothing into the target before the restore.
func TestRestoreIntoAFreshServerWhoseCatalogKnowsNothing(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	delete(env, "BACKUP_CATALOG_DATABASE_URL") // the default: the catalog lives in the database
	row, r := backupRow(t, env)
	if r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	fresh := cluster.NewDatabase(t) // the new server's empty database
	dr := map[string]string{}
	for k, v := range env {
		dr[k] = v
	}
	dr["BACKUP_DATABASE_URL"] = cluster.URL(fresh)
	res := rgz(t, dr, "restore", row.Filename, "--target-db", fresh, "--jobs", "2")
	if res.code != 0 || !strings.Contains(res.stdout, "every table and row count matches") ||
		!strings.Contains(res.stdout, "The catalog came back with "+fresh+" and is up to date: 1 backups recorded") {
		t.Fatalf("restore into the fresh database: %+v", res)
	}
	// The catalog came back with it, taken while this very backup ran: it
	// says the backup succeeded, not that it was abandoned.
	if st := rgz(t, dr, "status"); st.code != 0 || !regexp.MustCompile(`Last success: +`+regexp.QuoteMeta(row.Filename)+` +success`).MatchString(st.stdout) ||
		strings.Contains(st.stdout, "abandoned") {
		t.Fatalf("status after the restore of the database holding the catalog:\n%s", st.stdout)
	}
	if cluster.SchemaOnly(t, fresh) != cluster.SchemaOnly(t, dbName(env["BACKUP_DATABASE_URL"])) {
		t.Fatal("the restored database differs from the source (something was written before the restore?)")
	}

	// A bare shell: nothing but the path of the file and the target server.
	bare := map[string]string{"BACKUP_LOCAL_DIR": t.TempDir()}
	second := "bare_" + strings.ToLower(row.Filename[:15])
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), second) })
	res = rgz(t, bare, "restore", *row.FilePath, "--target-url", cluster.URL("postgres"), "--target-db", second, "--create", "--jobs", "2")
	if res.code != 0 || !strings.Contains(res.stdout, "every table and row count matches") {
		t.Fatalf("restore from a path in a bare shell: %+v", res)
	}
}

// The restore tests' outcomes are kept beside the backup and come back
// with `catalog rebuild`, so that "prefer a backup whose restore test
// succeeded" can be followed after the catalog is lost.
func TestRestoreTestOutcomeOutlivesTheCatalog(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	row, r := backupRow(t, env)
	if r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	if r := rgz(t, env, "restore-test", row.Filename); r.code != 0 {
		t.Fatalf("restore-test: %+v", r)
	}
	if _, err := os.Stat(layout.RestoreTestsFile(*row.FilePath)); err != nil {
		t.Fatalf("no restore-test sidecar: %v", err)
	}
	catalogDB := dbName(env["BACKUP_CATALOG_DATABASE_URL"])
	if err := cluster.DropDatabase(context.Background(), catalogDB); err != nil {
		t.Fatal(err)
	}
	if err := cluster.CreateDatabase(context.Background(), catalogDB); err != nil {
		t.Fatal(err)
	}
	if r := rgz(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	if r := rgz(t, env, "catalog", "rebuild"); r.code != 0 {
		t.Fatalf("rebuild: %+v", r)
	}
	r = rgz(t, env, "show", row.Filename, "--json")
	var back catalog.Execution
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &back) != nil || back.RestoreTestStatus != catalog.TestSuccess || back.RestoreTestedAt == nil {
		t.Fatalf("after rebuild: %+v\n%s", back, r.stdout)
	}
}

// The by-hand SOP of docs/RESTORE.md is a script in the repository; it
// runs as written on a real backup, quoted table names included.
func TestByHandProcedureRunsAsWritten(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	src := dbName(env["BACKUP_DATABASE_URL"])
	if _, err := cluster.Conn(t, src).Exec(context.Background(),
		`CREATE TABLE "Zone Wi-Fi ümlaut" (id int); INSERT INTO "Zone Wi-Fi ümlaut" SELECT generate_series(1, 3)`); err != nil {
		t.Fatal(err)
	}
	row, r := backupRow(t, env)
	if r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	target := "byhand_" + strings.ToLower(row.Filename[:15])
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), target) })
	cmd := exec.Command("bash", "../../docs/restore-by-hand.sh")
	cmd.Env = append(os.Environ(), "BACKUP_DIR="+env["BACKUP_LOCAL_DIR"], "BACKUP="+row.Filename, "PGHOST=127.0.0.1",
		"PGPORT="+strconv.Itoa(cluster.Port), "PGUSER=postgres", "TARGET_DB="+target, "JOBS=2", "WORK="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "every table holds exactly the rows of the backup") {
		t.Fatalf("the by-hand procedure: %v\n%s", err, out)
	}
	var n int
	if err := cluster.Conn(t, target).QueryRow(context.Background(), `SELECT count(*) FROM "Zone Wi-Fi ümlaut"`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("quoted table: %d rows, %v", n, err)
	}
	if cluster.SchemaOnly(t, target) != cluster.SchemaOnly(t, src) {
		t.Fatal("the by-hand restore differs from the source")
	}
}
