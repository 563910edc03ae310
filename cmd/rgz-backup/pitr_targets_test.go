package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

// Each server of the targets file that asks for it streams its own WAL
// into its own archive (named by its system identifier) and its own
// places; a server that does not ask is left alone, even one unfit to
// stream; the pitr commands ask which server when several stream.
func TestTargetsFileServersStreamTheirOwnWAL(t *testing.T) {
	t.Parallel()
	env, srcA, dbA := pitrEnv(t)
	env["BACKUP_PITR_ENABLED"] = "false" // each target asks for itself
	srcB := pgtest.Own(t)
	dbB := srcB.NewDatabase(t)
	for _, c := range []*pgtest.Cluster{srcA, srcB} {
		c.Set(t, "max_slot_wal_keep_size", "1GB")
	}
	nasB := t.TempDir()
	targetsFile := filepath.Join(t.TempDir(), "targets.yaml")
	err := os.WriteFile(targetsFile, []byte(`targets:
  - name: radius
    url: `+srcA.URL(dbA)+`
    databases: [`+dbA+`]
    pitr: true
  - name: billing
    url: `+srcB.URL(dbB)+`
    databases: [`+dbB+`]
    destinations: ["file://`+nasB+`"]
    pitr: true
  - name: legacy
    url: `+cluster.URL("postgres")+`
    databases: [postgres]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	delete(env, "BACKUP_DATABASE_URL")
	env["BACKUP_TARGETS_FILE"] = targetsFile
	d := startServe(t, env)

	sysA := queryString(t, srcA.URL(dbA), `SELECT system_identifier::text FROM pg_control_system()`)
	sysB := queryString(t, srcB.URL(dbB), `SELECT system_identifier::text FROM pg_control_system()`)
	if sysA == sysB {
		t.Fatal("two clusters with one system identifier")
	}
	store := openStore(t, env)
	based := func(sysid string) []catalog.BaseBackup {
		bases, err := store.BaseBackups(context.Background(), parseSysID(t, sysid))
		if err != nil {
			t.Fatal(err)
		}
		var good []catalog.BaseBackup
		for _, b := range bases {
			if b.Status == "success" {
				good = append(good, b)
			}
		}
		return good
	}
	for _, c := range []struct{ url, sysid string }{{srcA.URL(dbA), sysA}, {srcB.URL(dbB), sysB}} {
		execSQL(t, c.url, `CREATE TABLE churn AS SELECT generate_series(1, 1000) AS v`, `SELECT pg_switch_wal()`)
	}
	// Restorable: a base backup each, and its WAL shipped from its start
	// past its end, continuously (a segment past the end can be shipped
	// before the one the base backup started in).
	waitFor(t, baseBackupWait, "both servers streaming, with a restorable base backup each", func() bool {
		for _, sysid := range []string{sysA, sysB} {
			arch, err := pitr.FromCatalog(context.Background(), store, parseSysID(t, sysid))
			if err != nil {
				t.Fatal(err)
			}
			if len(based(sysid)) == 0 || len(arch.Windows()) == 0 {
				return false
			}
		}
		return true
	})
	// Each archive in its own places: billing's destinations hold
	// billing's, and only billing's.
	for _, b := range based(sysB) {
		if _, err := os.Stat(filepath.Join(nasB, filepath.FromSlash(b.ObjectKey))); err != nil {
			t.Errorf("billing's base backup is not in its destination: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(nasB, "pitr", sysA)); !os.IsNotExist(err) {
		t.Errorf("radius's archive reached billing's destination: %v", err)
	}
	for _, f := range walFiles(t, store, sysB) {
		if f.Kind == catalog.WALSegment && len(f.Copies) != 2 {
			t.Errorf("billing's %s: copies %v, want the backup directory and its destination", f.FileName, f.Copies)
		}
	}
	if strings.Contains(d.logs.String(), `"target":"legacy"`) {
		t.Errorf("the target that did not ask streams:\n%s", d.logs.String())
	}

	// Which server, when several stream: asked, and answered per target.
	if r := rgz(t, env, "pitr", "status"); r.code != 2 || !strings.Contains(r.stderr, "2 servers stream (radius, billing): name one with --target") {
		t.Fatalf("pitr status without --target: %+v", r)
	}
	for _, c := range []struct{ target, sysid string }{{"radius", sysA}, {"billing", sysB}} {
		r := rgz(t, env, "pitr", "status", "--target", c.target)
		if r.code != 0 || !strings.Contains(r.stdout, "cluster "+c.sysid+": streaming") {
			t.Fatalf("pitr status --target %s: %+v", c.target, r)
		}
	}
	if r := rgz(t, env, "pitr", "base-backup", "--target", "legacy"); r.code != 2 || !strings.Contains(r.stderr, "target legacy: point-in-time recovery is off") {
		t.Fatalf("a base backup of a server that does not stream: %+v", r)
	}
	if r := rgz(t, env, "pitr", "window", "--target", "billing"); r.code != 1 || !strings.Contains(r.stderr, "holds 2 clusters' archives") ||
		!strings.Contains(r.stderr, sysA) || !strings.Contains(r.stderr, sysB) {
		t.Fatalf("a window without --system-id while the catalog holds two: %+v", r)
	}
	if r := rgz(t, env, "pitr", "window", "--target", "billing", "--system-id", sysB); r.code != 0 || !strings.Contains(r.stdout, "cluster "+sysB+" restores") {
		t.Fatalf("billing's window: %+v", r)
	}
	// Without the catalog, billing's window is read from billing's places.
	offline := map[string]string{}
	for k, v := range env {
		offline[k] = v
	}
	offline["BACKUP_CATALOG_DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/gone"
	if r := rgz(t, offline, "pitr", "window", "--target", "billing", "--system-id", sysB); r.code != 0 || !strings.Contains(r.stdout, "cluster "+sysB+" restores") {
		t.Fatalf("billing's window without the catalog: %+v", r)
	}
}

func parseSysID(t *testing.T, s string) uint64 {
	t.Helper()
	var id uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("system identifier %q", s)
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
