package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
)

// takeBackups takes n real backups, at once (a name taken gives the next
// second), and returns their rows, oldest first.
func takeBackups(t *testing.T, env map[string]string, n int) []catalog.Execution {
	t.Helper()
	var rows []catalog.Execution
	for range n {
		row, r := backupRow(t, env)
		if r.code != 0 {
			t.Fatalf("backup: %+v", r)
		}
		rows = append(rows, row)
	}
	return rows
}

func TestRetentionVerb(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	env["BACKUP_MIN_KEEP"] = "1"
	rows := takeBackups(t, env, 5)
	if rows[0].RetentionClass != catalog.ClassCompliance || rows[1].RetentionClass != catalog.ClassDaily {
		// The first backup of a fresh catalog is its month's compliance copy.
		t.Fatalf("classes: %s, %s", rows[0].RetentionClass, rows[1].RetentionClass)
	}
	stray := filepath.Join(env["BACKUP_LOCAL_DIR"], "notes.txt")
	os.WriteFile(stray, []byte("an operator's notes"), 0o640)
	later := time.Now().UTC().AddDate(0, 0, 40).Format(time.RFC3339)

	// 40 days on, 3 of the 5 would go (not the compliance copy, not the
	// newest): more than half, so the run refuses and exits 1.
	r := rgz(t, env, "retention", "--dry-run", "--now", later)
	if r.code != 1 || !strings.Contains(r.stdout, "REFUSED") || !strings.Contains(r.stdout, "more than half") {
		t.Fatalf("refusal: %+v", r)
	}
	r = rgz(t, env, "retention", "--dry-run", "--now", later, "--allow-mass-delete")
	if r.code != 0 || strings.Count(r.stdout, "would delete") != 3 || !strings.Contains(r.stdout, "notes.txt") {
		t.Fatalf("dry run 40 days on: %+v", r)
	}
	for _, row := range rows {
		if _, err := os.Stat(*row.FilePath); err != nil {
			t.Fatalf("a dry run deleted %s", row.Filename)
		}
	}
	for _, args := range [][]string{{"retention", "--now", later}, {"retention", "--dry-run", "--now", "tomorrow"}} {
		if r := rgz(t, env, args...); r.code != 2 || !strings.Contains(r.stderr, "--now") {
			t.Errorf("%v: %+v", args, r)
		}
	}

	// --json speaks one style (the catalog's snake_case) and lists are
	// [] when empty, never null.
	r = rgz(t, env, "retention", "--dry-run", "--now", later, "--allow-mass-delete", "--json")
	var whole map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &whole) != nil {
		t.Fatalf("retention --json: %+v", r)
	}
	checkSnakeCase(t, "", whole)
	if strings.Count(r.stdout, `"delete": true`) != 3 || !strings.Contains(r.stdout, `"why": "daily copy, kept until`) {
		t.Fatalf("retention --json 40 days on: %s", r.stdout)
	}
	for _, list := range []string{"promoted", "deleted", "problems", "s3_deleted"} {
		if _, ok := whole[list].([]any); !ok {
			t.Errorf("retention --json: %q is %v, want a list", list, whole[list])
		}
	}

	r = rgz(t, env, "retention", "--json")
	var report struct {
		Deleted []string `json:"deleted"`
		Unknown []string `json:"unknown_files"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &report) != nil || len(report.Deleted) != 0 || len(report.Unknown) != 1 {
		t.Fatalf("retention now: %+v", r)
	}

	// Retention runs after every backup: a backup whose retention is over
	// is gone once the next backup is taken; its row stays.
	store, err := catalog.Open(context.Background(), config.Database{URL: env["BACKUP_CATALOG_DATABASE_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	expired := rows[1]
	if err := store.SetClass(context.Background(), expired.ID, "daily", time.Now().AddDate(0, 0, -2)); err != nil {
		t.Fatal(err)
	}
	takeBackups(t, env, 1)
	after, err := store.Get(context.Background(), expired.ID)
	if err != nil || after.DeletedAt == nil {
		t.Fatalf("expired backup after the next backup: %v, deleted_at %v", err, after.DeletedAt)
	}
	if _, err := os.Stat(*expired.FilePath); !os.IsNotExist(err) {
		t.Fatalf("its file is still there: %v", err)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Fatal("the unknown file was deleted")
	}
	if v := rgz(t, env, "verify", "--all"); v.code != 0 || strings.Count(v.stdout, "OK ") != 5 {
		t.Fatalf("verify --all skips the deleted backup: %+v", v)
	}
}

// checkSnakeCase fails on any key of v (decoded JSON) that is not
// snake_case.
func checkSnakeCase(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(k) {
				t.Errorf("key %q at %s is not snake_case", k, path)
			}
			checkSnakeCase(t, path+"."+k, sub)
		}
	case []any:
		for _, sub := range v {
			checkSnakeCase(t, path+"[]", sub)
		}
	}
}
