package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// A CLI backup stopped by a signal — `systemctl stop` of the oneshot unit,
// the package's removal, a shutdown (SIGTERM), an operator's Ctrl-C
// (SIGINT) — ends promptly with exit 1, a failed row that says which
// signal, no temporary or half-written file, no session of it left on the server
// (pg_dump's included), and
// the earlier good backup untouched.
func TestBackupInterruptedBySignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			env := sampleEnv(t)
			dir := env["BACKUP_LOCAL_DIR"]
			var stderr bytes.Buffer
			cmd, good, _ := startBlockedBackup(t, env, &stderr)
			before, err := os.ReadFile(good[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("backup still running 20 s after %s:\n%s", sig, stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != exitFailed {
				t.Fatalf("exit %d after %s, want %d:\n%s", code, sig, exitFailed, stderr.String())
			}

			rows := catalogRows(t, openStore(t, env))
			last := rows[0]
			if last.Status != catalog.StatusFailed || last.ErrorMessage == nil || !strings.Contains(*last.ErrorMessage, "interrupted by "+unixName(sig)) {
				t.Fatalf("the interrupted attempt's row: %+v", last)
			}
			if left := tempFiles(dir); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
			if now := dumps(dir); len(now) != 1 || now[0] != good[0] {
				t.Fatalf("backup files now %v, want only the earlier good one %v", now, good)
			}
			if after, _ := os.ReadFile(good[0]); !bytes.Equal(after, before) {
				t.Fatal("the earlier good backup changed")
			}
			// The server sees a killed client go within moments.
			waitFor(t, 10*time.Second, "the backup's sessions to end", func() bool { return runSessions(t, env) == 0 })
		})
	}
}

// SIGKILL (the OOM killer, systemd's last resort after TimeoutStopSec):
// nothing can run in the process, so pg_dump dies with it (Pdeathsig) and
// no file passes for a backup. Its server session, queued for a table
// lock, stays — holding the locks it took — until the next backup's
// recovery ends it, removes the temporary file and records the killed
// attempt as failed.
func TestBackupKilled(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	dir := env["BACKUP_LOCAL_DIR"]
	cmd, good, release := startBlockedBackup(t, env, nil)
	// Its pg_dump, found among the children of whichever of its threads
	// started it.
	var children []string
	waitFor(t, 30*time.Second, "the backup's pg_dump", func() bool {
		children = nil
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			children = append(children, strings.Fields(string(b))...)
		}
		for _, pid := range children {
			if comm, _ := os.ReadFile("/proc/" + pid + "/comm"); strings.TrimSpace(string(comm)) == "pg_dump" {
				return true
			}
		}
		return false
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, 10*time.Second, "pg_dump to die with its parent", func() bool {
		for _, pid := range children {
			if stat, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
				return false
			}
		}
		return true
	})
	// What it was writing is still a temporary file (.tmp-…, never taken
	// for a backup); no backup file but the earlier one.
	var published []string
	for _, f := range dumps(dir) {
		if !strings.HasPrefix(filepath.Base(f), ".tmp-") {
			published = append(published, f)
		}
	}
	if len(published) != 1 || published[0] != good[0] {
		t.Fatalf("after SIGKILL the backup files are %v, want only the earlier good one %v", published, good)
	}
	if runSessions(t, env) == 0 {
		t.Fatal("the killed pg_dump's session should still be queued for the lock (the case this test is about)")
	}

	// The next backup, while the lock is still held: its recovery ends
	// the killed run's session; it then fails on the lock itself (in 4 s:
	// 80% of its 5 s), ending its own.
	env["BACKUP_TIMEOUT_SECONDS"] = "5"
	next := rgz(t, env, "backup")
	if next.code != exitFailed || !strings.Contains(next.stderr, "ended the server sessions an abandoned attempt left") {
		t.Fatalf("the backup after the kill: exit %d: %s", next.code, next.stderr)
	}
	if n := runSessions(t, env); n != 0 {
		t.Fatalf("%d sessions of the killed and the failed runs are still on the server", n)
	}
	if left := tempFiles(dir); len(left) != 0 {
		t.Fatalf("the killed attempt's temporary file is still there: %v", left)
	}
	release()
	delete(env, "BACKUP_TIMEOUT_SECONDS")
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("a backup once the lock is gone: exit %d: %s", r.code, r.stderr)
	}
	var abandoned, failed, succeeded int
	for _, row := range catalogRows(t, openStore(t, env)) {
		switch {
		case row.Status == catalog.StatusFailed && row.ErrorMessage != nil && strings.HasPrefix(*row.ErrorMessage, "abandoned"):
			abandoned++
		case row.Status == catalog.StatusFailed:
			failed++
		case row.Status == catalog.StatusSuccess:
			succeeded++
		}
	}
	if abandoned != 1 || failed != 1 || succeeded != 2 {
		t.Fatalf("the catalog: %d abandoned (want 1: the killed attempt), %d failed (want 1: the lock), %d succeeded (want 2)", abandoned, failed, succeeded)
	}
}

// unixName is the name main gives a signal in its error ("SIGTERM").
func unixName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig]
}

// startBlockedBackup takes a good backup, then starts another whose
// pg_dump waits, queued for a table lock that a session of the test holds
// until release is called; it returns once pg_dump is queued and the
// temporary file is there.
func startBlockedBackup(t *testing.T, env map[string]string, stderr *bytes.Buffer) (cmd *exec.Cmd, good []string, release func()) {
	t.Helper()
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("the first backup: exit %d: %s", r.code, r.stderr)
	}
	dir := env["BACKUP_LOCAL_DIR"]
	good = dumps(dir)
	release = blockDump(t, env)
	cmd = rgzCommand(env, "backup")
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a test that failed before stopping it
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	waitFor(t, 30*time.Second, "the backup to be writing", func() bool { return len(tempFiles(dir)) == 1 })
	waitFor(t, 30*time.Second, "pg_dump to wait for the lock", func() bool { return runSessionsWaitingForALock(t, env) > 0 })
	return cmd, good, release
}

// runSessionsWaitingForALock counts the backup's sessions queued for a
// lock.
func runSessionsWaitingForALock(t *testing.T, env map[string]string) int {
	t.Helper()
	return countSessions(t, env, `application_name LIKE 'rgz-backup run %' AND wait_event_type = 'Lock'`)
}

// runSessions counts the backup's sessions on the backed-up database (its
// pg_dump's and its own: application_name "rgz-backup run RUN_ID").
func runSessions(t *testing.T, env map[string]string) int {
	t.Helper()
	return countSessions(t, env, `application_name LIKE 'rgz-backup run %'`)
}

func countSessions(t *testing.T, env map[string]string, where string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env["BACKUP_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
