package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// `backup` over a targets file: two servers backed up (one with
// destinations of its own), one down and said so; the copies of each
// target in its own places; archive and retention see every destination.
func TestBackupFromTargetsFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := cluster.NewDatabase(t)
	if _, err := cluster.Conn(t, a).Exec(ctx, "CREATE TABLE note AS SELECT generate_series(1, 1000) AS id"); err != nil {
		t.Fatal(err)
	}
	proxy := cluster.NewProxy(t)
	shared, own := filepath.Join(t.TempDir(), "shared"), filepath.Join(t.TempDir(), "own")
	file := filepath.Join(t.TempDir(), "targets.yaml")
	body := fmt.Sprintf(`targets:
  - name: main
    url: %s
    databases: [%s]
  - name: site-b
    url: %s
    databases: [%s]
    compression: zstd
    destinations: ["file://%s"]
    schedule: "30 4 * * *"
    restore_test_schedule: "0 6 * * 0"
  - name: down
    url: postgres://nobody@%s/postgres
    databases: ["*"]
`, cluster.URL("postgres"), a, proxy.URL(cluster, "postgres"), a, own, freeAddr(t))
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// site-b's own destination is broken at first: its copy is missing
	// until archive heals it, there and not in BACKUP_DESTINATIONS.
	if err := os.WriteFile(own, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	catalogURL := cluster.URL(cluster.NewDatabase(t))
	dir := t.TempDir()
	env := map[string]string{
		"BACKUP_DATABASE_URL":         catalogURL,
		"BACKUP_CATALOG_DATABASE_URL": catalogURL,
		"BACKUP_TARGETS_FILE":         file,
		"BACKUP_DESTINATIONS":         "file://" + shared,
		"BACKUP_LOCAL_DIR":            dir,
		"BACKUP_MIN_SIZE_MB":          "0",
		"BACKUP_MIN_FREE_SPACE_GB":    "0",
	}
	r := rgz(t, env, "backup")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 3 databases failed: down/*") {
		t.Fatalf("backup over three targets, one down: %+v", r)
	}
	if !regexp.MustCompile(`down +\* +not recorded .* list the databases`).MatchString(r.stdout) {
		t.Fatalf("the summary does not say the server is down:\n%s", r.stdout)
	}
	store := openStore(t, env)
	for _, row := range catalogRows(t, store) {
		if want := map[string]catalog.Status{"main": catalog.StatusSuccess, "site-b": catalog.StatusPartial}[row.TargetName]; row.Status != want {
			t.Fatalf("%s: %s, want %s", row.TargetName, row.Status, want)
		}
	}
	if err := os.Remove(own); err != nil {
		t.Fatal(err)
	}
	if r := rgz(t, env, "archive"); r.code != 0 || !strings.Contains(r.stdout, "OK ") {
		t.Fatalf("archive heals site-b's copy: %+v", r)
	}
	rows := catalogRows(t, store)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want main's and site-b's", len(rows))
	}
	for _, row := range rows {
		if row.Status != catalog.StatusSuccess || deref(row.DatabaseName) != a {
			t.Fatalf("%s: %s %s", row.TargetName, row.Status, deref(row.ErrorMessage))
		}
		month := row.BackupDate.UTC().Format("2006/01")
		in, notIn := shared, own
		if row.TargetName == "site-b" {
			in, notIn = own, shared
			if !strings.HasSuffix(row.Filename, ".dump.zst") {
				t.Fatalf("site-b's compression override: %s", row.Filename)
			}
		}
		if _, err := os.Stat(filepath.Join(in, row.TargetName, a, month, row.Filename)); err != nil {
			t.Fatalf("%s's copy: %v", row.TargetName, err)
		}
		if _, err := os.Stat(filepath.Join(notIn, row.TargetName, a, month, row.Filename)); err == nil {
			t.Fatalf("%s's copy is also in the other target's destination", row.TargetName)
		}
	}
	if r := rgz(t, env, "archive"); r.code != 0 || !strings.Contains(r.stdout, "No partial backups") {
		t.Fatalf("archive: %+v", r)
	}
	ret := rgz(t, env, "retention", "--dry-run", "--json")
	if ret.code != 0 || !strings.Contains(ret.stdout, "file://"+own) || !strings.Contains(ret.stdout, "file://"+shared) {
		t.Fatalf("retention sees every destination: %+v", ret)
	}
	if r := rgz(t, env, "backup", "--target", "nowhere"); r.code != 2 || !strings.Contains(r.stderr, "--target") {
		t.Fatalf("backup --target nowhere: %+v", r)
	}
	if r := rgz(t, env, "backup", "--target", "site-b", "--database", a, "--json"); r.code != 0 || !strings.Contains(r.stdout, `"target_name": "site-b"`) {
		t.Fatalf("backup --target site-b --database: %+v", r)
	}
	// A copy in a target's own destination is read back like any other:
	// verify from there, and catalog rebuild finds it.
	for _, row := range catalogRows(t, store) {
		if row.TargetName == "site-b" {
			if v := rgz(t, env, "verify", row.Filename, "--from", "file://"+own); v.code != 0 || !strings.HasPrefix(v.stdout, "OK ") {
				t.Fatalf("verify from site-b's own destination: %+v", v)
			}
		}
	}
	rebuilt := maps.Clone(env)
	rebuilt["BACKUP_CATALOG_DATABASE_URL"] = cluster.URL(cluster.NewDatabase(t))
	if r := rgz(t, rebuilt, "catalog", "rebuild", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"refused": null`) && !strings.Contains(r.stdout, `"refused": []`) {
		t.Fatalf("rebuild: %+v", r)
	}
	copiesIn := func(dest string) int {
		conn := cluster.Conn(t, dbName(rebuilt["BACKUP_CATALOG_DATABASE_URL"]))
		var n int
		conn.QueryRow(ctx, "SELECT count(*) FROM backup_copies WHERE destination = $1", dest).Scan(&n)
		return n
	}
	if n := copiesIn("file://" + own); n == 0 {
		t.Fatal("catalog rebuild did not read site-b's own destination")
	}
	// list names each backup's target and database, and chooses by them;
	// status shows the targets' own schedules.
	l := rgz(t, env, "list")
	if lines := strings.Split(strings.TrimSpace(l.stdout), "\n"); l.code != 0 || !strings.HasPrefix(lines[0], "TARGET") || len(lines) != 4 ||
		!regexp.MustCompile(`(?m)^site-b +`+a+` `).MatchString(l.stdout) || !regexp.MustCompile(`(?m)^main +`+a+` `).MatchString(l.stdout) {
		t.Fatalf("list with a targets file:\n%s", l.stdout)
	}
	if l := rgz(t, env, "list", "--target", "site-b", "--database", a); l.code != 0 || strings.Count(strings.TrimSpace(l.stdout), "\n") != 2 || strings.Contains(l.stdout, "main ") {
		t.Fatalf("list --target site-b --database %s:\n%s", a, l.stdout)
	}
	st := rgz(t, env, "status")
	if st.code != 0 || !strings.Contains(st.stdout, "site-b: its own schedule 30 4 * * * (UTC) in the targets file, which no daemon runs") ||
		!strings.Contains(st.stdout, "site-b: restore tests on its own schedule 0 6 * * 0 (UTC) in the targets file") {
		t.Fatalf("status with a targets file:\n%s", st.stdout)
	}
}

// A database the backup role may not read fails alone: the other is
// backed up, and the summary says which failed and why.
func TestOneDatabaseWithoutPermission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ok, denied := cluster.NewDatabase(t), cluster.NewDatabase(t)
	role := "limited_" + strings.TrimPrefix(ok, "t")
	admin := cluster.Conn(t, "postgres")
	for _, sql := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"REVOKE CONNECT ON DATABASE " + denied + " FROM PUBLIC",
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE IF EXISTS "+role) })
	if _, err := cluster.Conn(t, ok).Exec(ctx, "CREATE TABLE note AS SELECT 1 AS id; GRANT SELECT ON note TO "+role); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(cluster.URL("postgres"), "postgres@", role+"@", 1)
	env := map[string]string{
		"BACKUP_DATABASE_URL":         url,
		"BACKUP_DATABASES":            ok + "," + denied,
		"BACKUP_CATALOG_DATABASE_URL": cluster.URL(cluster.NewDatabase(t)),
		"BACKUP_LOCAL_DIR":            t.TempDir(),
		"BACKUP_MIN_SIZE_MB":          "0",
		"BACKUP_MIN_FREE_SPACE_GB":    "0",
	}
	r := rgz(t, env, "backup")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 2 databases failed: "+denied) ||
		!regexp.MustCompile(`default +`+ok+` +success `).MatchString(r.stdout) ||
		!regexp.MustCompile(`default +`+denied+` +failed .*permission denied`).MatchString(r.stdout) {
		t.Fatalf("one database without permission: %+v", r)
	}
}
