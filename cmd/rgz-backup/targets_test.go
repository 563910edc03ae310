package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `targets check` reads a targets file: one line per target, or exit 2
// naming the file's line; a password variable that is not set here is a
// problem too. The daemon and backup refuse the file until they act on it.
func TestTargetsCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "targets.yaml")
	os.WriteFile(good, []byte(`targets:
  - name: rgz-db
    url: postgres://backup@rgz-db:5432/postgres
    password_env: RGZ_TEST_DB_PASSWORD
    databases: ["*"]
    exclude: [test_*]
  - name: billing
    url: postgres://backup@billing/billing
    databases: [billing, invoices]
`), 0o600)
	r := rgz(t, map[string]string{"RGZ_TEST_DB_PASSWORD": "x"}, "targets", "check", good)
	if r.code != 0 || !strings.Contains(r.stdout, "OK  rgz-db  postgres://backup@rgz-db:5432/postgres  every database except test_*") ||
		!strings.Contains(r.stdout, "OK  billing") || !strings.Contains(r.stdout, "2 targets") {
		t.Fatalf("a good file: %+v", r)
	}
	if r := rgz(t, map[string]string{}, "targets", "check", good); r.code != 2 || !strings.Contains(r.stderr, good+":2: target rgz-db: password_env RGZ_TEST_DB_PASSWORD is not set") {
		t.Fatalf("a password variable not set: %+v", r)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("targets:\n  - name: a\n    url: postgres://u:hunter2@h/db\n    databases: [db]\n"), 0o600)
	if r := rgz(t, map[string]string{"BACKUP_TARGETS_FILE": bad}, "targets", "check"); r.code != 2 || !strings.Contains(r.stderr, bad+":3: url:") ||
		strings.Contains(r.stderr, "hunter2") {
		t.Fatalf("a password in the file: %+v", r)
	}
	if r := rgz(t, map[string]string{}, "targets", "check"); r.code != 2 || !strings.Contains(r.stderr, "BACKUP_TARGETS_FILE") {
		t.Fatalf("no file: %+v", r)
	}
	if r := rgz(t, map[string]string{"POSTGRES_USER": "u", "POSTGRES_DB": "d", "BACKUP_TARGETS_FILE": good}, "backup"); r.code != 2 || !strings.Contains(r.stderr, "BACKUP_TARGETS_FILE") {
		t.Fatalf("backup with a targets file: %+v", r)
	}
}
