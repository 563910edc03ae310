package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// A restore test killed with SIGKILL (the OOM killer, a drained node) at
// several moments — while it decompresses (and decrypts) the backup into
// its temporary file, while pg_restore reads it, while it compares —
// leaves nothing readable: the plaintext never had a name in the backup
// directory (an unnamed file, freed with the process), and the scratch
// database it was restoring into is dropped by the next restore test, or
// by the daemon at start, which record the killed test as failed.
// Encrypted and not.
func TestKilledRestoreTestLeavesNothingReadable(t *testing.T) {
	t.Parallel()
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			t.Parallel()
			env := sampleEnv(t)
			if encrypted {
				recipient, identity := newKeyFile(t)
				env["BACKUP_ENCRYPTION_RECIPIENTS"], env["BACKUP_ENCRYPTION_IDENTITY_FILE"] = recipient, identity
			}
			if r := rgz(t, env, "backup"); r.code != 0 {
				t.Fatalf("backup: %+v", r)
			}
			dir := env["BACKUP_LOCAL_DIR"]
			before := filesIn(t, dir)
			moments := []struct {
				name  string
				ready func(pid int) bool
			}{
				{"writing the plaintext", func(pid int) bool { return len(unnamedFilesOf(pid, dir)) > 0 }},
				{"pg_restore reading it", func(pid int) bool { return childNamed(pid, "pg_restore") }},
				{"comparing the copy", func(pid int) bool { return childNamed(pid, "pg_dump") }},
			}
			for i, m := range moments {
				cmd := rgzCommand(env, "restore-test")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				pid := cmd.Process.Pid
				deadline := time.Now().Add(60 * time.Second)
				for !m.ready(pid) {
					select {
					case err := <-exited:
						t.Fatalf("%s: the restore test ended before the moment: %v", m.name, err)
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: never reached", m.name)
					}
					time.Sleep(2 * time.Millisecond)
				}
				// While the plaintext exists, no name in the backup directory
				// reaches it.
				if i < 2 {
					if open := unnamedFilesOf(pid, dir); len(open) == 0 {
						t.Fatalf("%s: no temporary file open", m.name)
					}
					if now := filesIn(t, dir); !equalSets(now, before) {
						t.Fatalf("%s: the backup directory holds %v, before %v", m.name, now, before)
					}
				}
				children := descendants(pid)
				cmd.Process.Kill()
				<-exited
				waitFor(t, 30*time.Second, "the killed test's children to die", func() bool {
					for _, c := range children {
						if stat, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
							return false
						}
					}
					return true
				})
				if now := filesIn(t, dir); !equalSets(now, before) {
					t.Fatalf("%s: after SIGKILL the backup directory holds %v, before %v", m.name, now, before)
				}
			}

			// The server ends a killed client's sessions once it notices (a
			// moment, under load), and the sweep rightly leaves a test whose
			// owner session it still sees: wait for the server as the sweep
			// would see it.
			store := openStore(t, env)
			server := cluster.Conn(t, "postgres") // one: each Conn lives until the test ends
			waitFor(t, 30*time.Second, "the server to end the killed tests' sessions", func() bool {
				running, err := store.RunningRestoreTests(context.Background())
				if err != nil {
					return false
				}
				for _, rt := range running {
					if rt.ScratchDatabase == nil {
						continue
					}
					// A query that fails (a busy server) proves nothing.
					alive := true
					server.QueryRow(context.Background(),
						`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'client backend'
							AND (application_name = 'rgz-owner:' || $1 OR datname = $1))`,
						*rt.ScratchDatabase).Scan(&alive)
					if alive {
						return false
					}
				}
				return true
			})
			// The next restore test sweeps up after the killed ones (the
			// daemon's start is the other way: TestDaemonSweepsScratchAtStart).
			last := rgz(t, env, "restore-test")
			if last.code != 0 {
				t.Fatalf("the restore test after the kills: %+v", last)
			}
			tests, err := store.RestoreTests(context.Background(), time.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var abandoned, passed int
			for _, rt := range tests {
				switch {
				case rt.Status == catalog.TestSuccess:
					passed++
				case rt.Status == catalog.TestFailed && rt.ErrorMessage != nil && strings.HasPrefix(*rt.ErrorMessage, "abandoned"):
					abandoned++
				default:
					t.Errorf("test %s: %s %v", rt.ID, rt.Status, rt.ErrorMessage)
				}
				if rt.ScratchDatabase != nil && databaseExists(t, *rt.ScratchDatabase) {
					t.Errorf("scratch database %s (%s) still there", *rt.ScratchDatabase, rt.Status)
				}
			}
			if abandoned != len(moments) || passed != 1 {
				t.Fatalf("%d tests abandoned (want %d: the killed), %d passed (want 1); the last test said:\n%s", abandoned, len(moments), passed, last.stderr)
			}
			if now := filesIn(t, dir); len(now) < len(before) {
				t.Fatalf("files lost: %v, before %v", now, before)
			}
		})
	}
}

// The daemon, at start, drops the scratch database of a restore test
// killed while it restored, and records that test as failed.
func TestDaemonSweepsScratchAtStart(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	cmd := rgzCommand(env, "restore-test")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "pg_restore", func() bool { return childNamed(cmd.Process.Pid, "pg_restore") })
	cmd.Process.Kill()
	cmd.Wait()
	store := openStore(t, env)
	killed, err := store.LastRestoreTest(context.Background())
	if err != nil || killed.Status != catalog.TestRunning || killed.ScratchDatabase == nil {
		t.Fatalf("the killed test's record: %+v, %v", killed, err)
	}

	senv := serveEnv(t)
	for k, v := range env {
		senv[k] = v
	}
	d := startServe(t, senv)
	waitFor(t, 30*time.Second, "the killed test recorded as abandoned", func() bool {
		rt, err := store.RestoreTest(context.Background(), killed.ID)
		return err == nil && rt.Status == catalog.TestFailed
	})
	if databaseExists(t, *killed.ScratchDatabase) {
		t.Fatalf("scratch database %s still there after the daemon's start", *killed.ScratchDatabase)
	}
	if !strings.Contains(d.logs.String(), "cleaned up after restore tests whose process died") {
		t.Fatalf("the daemon did not say it swept:\n%s", d.logs.String())
	}
}

// filesIn lists every file below dir, hidden ones too, by relative path.
func filesIn(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// unnamedFilesOf lists the files in dir that process pid holds open and
// that no name reaches (what /proc says of an unlinked or O_TMPFILE file).
func unnamedFilesOf(pid int, dir string) []string {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	var out []string
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err == nil && strings.HasPrefix(target, dir+"/") && strings.HasSuffix(target, " (deleted)") {
			out = append(out, target)
		}
	}
	return out
}

// descendants are pid's children, their children, and so on.
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(append(out, c), descendants(c)...)
			}
		}
	}
	return out
}

// childNamed says whether one of pid's descendants runs program.
func childNamed(pid int, program string) bool {
	for _, c := range descendants(pid) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); strings.TrimSpace(string(comm)) == program {
			return true
		}
	}
	return false
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var exists bool
	if err := cluster.Conn(t, "postgres").QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}
