package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restoreAs runs rgz-backup pitr restore into a new data directory under
// home on a free port, as owner; the cluster is stopped when the test
// ends. It returns the result, the directory and the port.
func restoreAs(t *testing.T, owner *syscall.Credential, env map[string]string, home, name string, args ...string) (result, string, int) {
	t.Helper()
	dataDir := filepath.Join(home, name)
	port := freePort(t)
	args = append([]string{"pitr", "restore", "--data-dir", dataDir, "--port", fmt.Sprint(port)}, args...)
	r := rgzAs(t, owner, env, args...)
	if r.code == 0 {
		t.Cleanup(func() { stopRestored(t, owner, r.stdout) })
	}
	return r, dataDir, port
}

// windowEnd is the end LSN of the newest window `pitr window --json`
// prints, and how many windows there are.
func windowEnd(t *testing.T, env map[string]string) (string, int) {
	t.Helper()
	r := rgz(t, env, "pitr", "window", "--json")
	if r.code == 1 && strings.Contains(r.stderr, "no good base backup") {
		return "0/0", 0 // not yet
	}
	if r.code != 0 {
		t.Fatalf("pitr window: %+v", r)
	}
	var windows []struct {
		ToLSN string `json:"to_lsn"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &windows); err != nil {
		t.Fatal(err)
	}
	if len(windows) == 0 {
		return "0/0", 0
	}
	return windows[len(windows)-1].ToLSN, len(windows)
}

// A restored server that goes on (promoted: timeline 2) streams into the
// same archive: the slot is made on it, a base backup taken, and the
// archive follows the timeline switch — a moment on timeline 2 from
// before that base backup restores from the first one, across the switch.
// The archive is not encrypted here (the restore test's is).
func TestPITRAcrossATimelineSwitch(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	src.Set(t, "max_slot_wal_keep_size", "1GB")
	owner := src.Owner()
	home := ownedDir(t, src)
	env["BACKUP_LOCAL_DIR"] = filepath.Join(home, "backups")
	execSQL(t, src.URL(db), `CREATE TABLE marker (name text PRIMARY KEY)`)

	d := startServeAs(t, env, owner)
	store := openStore(t, env)
	sysid := queryString(t, src.URL(db), `SELECT system_identifier::text FROM pg_control_system()`)
	execSQL(t, src.URL(db), `INSERT INTO marker VALUES ('A')`)
	lsnA := queryString(t, src.URL(db), `SELECT pg_current_wal_insert_lsn()::text`)
	waitFor(t, archiveWait, "the window past marker A", func() bool {
		end, _ := windowEnd(t, env)
		return queryString(t, src.URL(db), fmt.Sprintf(`SELECT ('%s'::pg_lsn >= '%s'::pg_lsn)::text`, end, lsnA)) == "true"
	})
	r, goOn, port := restoreAs(t, owner, env, home, "goes-on", "--to", "latest")
	if r.code != 0 || !strings.Contains(r.stdout, "timeline 2") {
		t.Fatalf("restore --to latest: %+v", r)
	}
	d.stop(syscall.SIGTERM, 30*time.Second)

	// The restored server goes on; the daemon now streams it.
	url := fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d", db, goOn, port)
	execSQL(t, url, `INSERT INTO marker VALUES ('C')`)
	target := queryString(t, url, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`)
	time.Sleep(10 * time.Millisecond)
	env["BACKUP_DATABASE_URL"] = url
	d = startServeAs(t, env, owner)
	waitFor(t, baseBackupWait, "a base backup on the new slot", func() bool {
		files := walFiles(t, store, sysid)
		rows, err := store.BaseBackups(t.Context(), files[0].SystemID)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range rows {
			if b.TriggeredBy == "new_slot" && b.Status == "success" {
				return true
			}
		}
		return false
	})
	execSQL(t, url, `INSERT INTO marker VALUES ('D')`)
	lsnD := queryString(t, url, `SELECT pg_current_wal_insert_lsn()::text`)
	waitFor(t, archiveWait, "the window past marker D", func() bool {
		end, _ := windowEnd(t, env)
		return queryString(t, url, fmt.Sprintf(`SELECT ('%s'::pg_lsn >= '%s'::pg_lsn)::text`, end, lsnD)) == "true"
	})
	var history bool
	for _, f := range walFiles(t, store, sysid) {
		history = history || f.FileName == "00000002.history"
	}
	if !history {
		t.Fatal("timeline 2's history file is not in the archive")
	}

	// C was written on timeline 2 before the new base backup: only the
	// first one, and the WAL across the switch, restore it.
	r, dir, port2 := restoreAs(t, owner, env, home, "across", "--to", target)
	if r.code != 0 || !strings.Contains(r.stdout, "timeline 3") {
		t.Fatalf("restore across the switch to %s: %+v", target, r)
	}
	got := queryString(t, fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d", db, dir, port2), `SELECT string_agg(name, ',' ORDER BY name) FROM marker`)
	if got != "A,C" {
		t.Fatalf("restored across the switch: markers %q, want A,C", got)
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}
