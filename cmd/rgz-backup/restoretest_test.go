package main

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

func TestRestoreTestVerb(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	r := rgz(t, env, "restore-test", "--json")
	var record map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &record) != nil || record["status"] != "success" {
		t.Fatalf("restore-test: %+v", r)
	}
	var keys []string
	for k := range record {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := "[backup_filename backup_id duration_seconds error_message finished_at hostname id mismatches restore_mode scratch_database scratch_server started_at status triggered_by]"
	if strings.Join(keys, " ") != strings.Trim(want, "[]") {
		t.Errorf("keys %v, want the columns %s", keys, want)
	}
	if text := rgz(t, env, "restore-test"); text.code != 0 || !strings.Contains(text.stdout, "SUCCESS in") || !strings.Contains(text.stdout, "parallel pg_restore") {
		t.Fatalf("restore-test: %+v", text)
	}
	if bad := rgz(t, env, "restore-test", "20000101_000000.dump.gz"); bad.code != 1 || !strings.Contains(bad.stderr, "no such backup") {
		t.Fatalf("unknown backup: %+v", bad)
	}

	// The catalog lost with its database: the manifests are enough.
	if err := cluster.DropDatabase(context.Background(), dbName(env["BACKUP_CATALOG_DATABASE_URL"])); err != nil {
		t.Fatal(err)
	}
	lost := rgz(t, env, "restore-test", "--json")
	if lost.code != 0 || json.Unmarshal([]byte(lost.stdout), &record) != nil || record["status"] != "success" || !strings.Contains(lost.stderr, "not recorded") {
		t.Fatalf("restore-test without a catalog: %+v", lost)
	}
}

// The daemon runs the scheduled restore test (here every 5 s) and records it.
func TestDaemonRunsScheduledRestoreTests(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_RESTORE_TEST_SCHEDULE"] = "*/5 * * * * *"
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	store := openStore(t, env)
	d := startServe(t, env)
	waitFor(t, 60*time.Second, "a scheduled restore test", func() bool {
		tests, _ := store.RestoreTests(context.Background(), time.Now().Add(-time.Hour))
		return len(tests) > 0 && tests[len(tests)-1].Status == catalog.TestSuccess
	})
	d.stop(syscall.SIGTERM, 30*time.Second)
	tests, _ := store.RestoreTests(context.Background(), time.Now().Add(-time.Hour))
	if tests[len(tests)-1].TriggeredBy != catalog.TriggerScheduled {
		t.Fatalf("%+v", tests[len(tests)-1])
	}
}
