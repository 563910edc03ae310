package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// ownedDir is a directory of the test's own that the cluster's user owns
// (PostgreSQL refuses root: restores run as that user).
func ownedDir(t *testing.T, c *pgtest.Cluster) string {
	t.Helper()
	// In memory where the machine has it (as the clusters are): the WAL
	// spool is written with a flush per write.
	parent := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		parent = "/dev/shm"
	}
	dir, err := os.MkdirTemp(parent, "rgz-pitr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if cred := c.Owner(); cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rgzAs runs the binary as cred (nil: ourselves).
func rgzAs(t *testing.T, cred *syscall.Credential, env map[string]string, args ...string) result {
	t.Helper()
	cmd := rgzCommand(env, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := runWithinSplit(t, cmd, 90*time.Second)
	return out.with(processExit(err))
}

type outputs struct{ stdout, stderr syncBuffer }

func (o *outputs) with(code int) result { return result{code, o.stdout.String(), o.stderr.String()} }

func runWithinSplit(t *testing.T, cmd *exec.Cmd, limit time.Duration) (*outputs, error) {
	t.Helper()
	var o outputs
	cmd.Stdout, cmd.Stderr = &o.stdout, &o.stderr
	cmd.WaitDelay = 10 * time.Second // a restored server started by it keeps no pipe of ours open
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(limit, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	return &o, cmd.Wait()
}

// Marker A is written, the server's time T read, marker B written: the
// archive restores to T (A, not B), to the LSN between them, and to the
// latest (both: nothing committed and shipped is lost); a target outside
// the window is refused naming the window; the archive is encrypted, the
// daemon and the restores run as PostgreSQL's user, and the commands the
// restore prints (to stop the cluster) work.
func TestPITRRestoreToATime(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	url := src.URL(db)
	src.Set(t, "max_slot_wal_keep_size", "1GB")
	owner := src.Owner()
	home := ownedDir(t, src)
	env["BACKUP_LOCAL_DIR"] = filepath.Join(home, "backups")
	recipient, identity := fixture.AgeKey(t)
	key, err := os.ReadFile(identity)
	if err != nil {
		t.Fatal(err)
	}
	env["BACKUP_ENCRYPTION_IDENTITY_FILE"] = filepath.Join(home, "key.txt")
	if err := os.WriteFile(env["BACKUP_ENCRYPTION_IDENTITY_FILE"], key, 0o644); err != nil {
		t.Fatal(err)
	}
	env["BACKUP_ENCRYPTION_RECIPIENTS"] = recipient
	execSQL(t, url, `CREATE TABLE marker (name text PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())`,
		`CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g`)

	d := startServeAs(t, env, owner)
	store := openStore(t, env)
	sysid := queryString(t, url, `SELECT system_identifier::text FROM pg_control_system()`)
	waitFor(t, baseBackupWait, "the first base backup", func() bool {
		files := walFiles(t, store, sysid)
		if len(files) == 0 {
			return false
		}
		rows, err := store.BaseBackups(t.Context(), files[0].SystemID)
		return err == nil && len(rows) > 0 && rows[0].Status == "success"
	})

	execSQL(t, url, `INSERT INTO marker (name) VALUES ('A')`)
	lsnA := queryString(t, url, `SELECT pg_current_wal_insert_lsn()::text`)
	target := queryString(t, url, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`)
	time.Sleep(10 * time.Millisecond)
	execSQL(t, url, `INSERT INTO marker (name) VALUES ('B')`)
	lsnB := queryString(t, url, `SELECT pg_current_wal_insert_lsn()::text`)

	// The window reaches past B once the partial copy has been shipped.
	var windows []struct {
		ToLSN string `json:"to_lsn"`
		From  string `json:"from"`
	}
	waitFor(t, archiveWait, "the window past marker B", func() bool {
		r := rgz(t, env, "pitr", "window", "--json")
		if r.code != 0 {
			t.Fatalf("pitr window: %+v", r)
		}
		if err := json.Unmarshal([]byte(r.stdout), &windows); err != nil {
			t.Fatal(err)
		}
		return len(windows) > 0 && queryString(t, url, fmt.Sprintf(`SELECT ('%s'::pg_lsn >= '%s'::pg_lsn)::text`, windows[len(windows)-1].ToLSN, lsnB)) == "true"
	})
	if r := rgz(t, env, "pitr", "window"); r.code != 0 || !strings.Contains(r.stdout, "restores to any moment") {
		t.Fatalf("pitr window: %+v", r)
	}

	markers := func(port int, dataDir string) string {
		t.Helper()
		return queryString(t, fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d", db, dataDir, port),
			`SELECT string_agg(name, ',' ORDER BY name) || ' ' || (SELECT count(*) FROM filler) FROM marker`)
	}
	restore := func(name string, args ...string) (result, string, int) {
		t.Helper()
		return restoreAs(t, owner, env, home, name, args...)
	}

	r, dir, port := restore("to-time", "--to", target)
	if r.code != 0 || !strings.Contains(r.stdout, "promoted") {
		for _, f := range walFiles(t, store, sysid) {
			t.Logf("%s %s %s-%s %s", f.Kind, f.FileName, f.StartLSN, f.EndLSN, f.ShippedAt)
		}
		t.Logf("A %s B %s windows %+v", lsnA, lsnB, windows)
		log, _ := os.ReadFile(filepath.Join(dir, "rgz-restore.log"))
		t.Logf("server log:\n%s", log)
		t.Fatalf("restore --to %s: %+v", target, r)
	}
	if got := markers(port, dir); got != "A 20000" {
		t.Fatalf("restored to %s: markers %q, want A only", target, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "pg_wal", pitr.PrefetchDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segments fetched ahead are left in the promoted cluster: %v", err)
	}
	stopRestored(t, owner, r.stdout)

	// The runbook's lines (docs/RESTORE.md, section 3) as written, and the
	// by-hand script (section 4) on the archive's folder.
	if r := runAs(t, owner, env, nil, runbookLine(t, "rgz-backup pitr window")); r.code != 0 || !strings.Contains(r.stdout, "restores to any moment") {
		t.Fatalf("runbook: pitr window: %+v", r)
	}
	dir, port = filepath.Join(home, "runbook"), freePort(t)
	r = runAs(t, owner, env, []string{"TARGET=" + target, "DATA_DIR=" + dir, "PORT=" + strconv.Itoa(port)},
		runbookLine(t, "rgz-backup pitr restore --to"))
	if r.code != 0 {
		t.Fatalf("runbook: pitr restore: %+v", r)
	}
	stopCmd := func(dir string) { stopRestored(t, owner, "stop it with: pg_ctl stop --pgdata="+dir) }
	t.Cleanup(func() { stopCmd(dir) })
	if got := markers(port, dir); got != "A 20000" {
		t.Fatalf("runbook restore to %s: markers %q, want A only", target, got)
	}
	stopCmd(dir)
	script, err := filepath.Abs("../../docs/pitr-restore-by-hand.sh")
	if err != nil {
		t.Fatal(err)
	}
	// age where the restoring user finds it (the install script puts it
	// under root's home when the tests run as root).
	ageBin, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("the age CLI (installed by scripts/install-deps.sh) is needed: ", err)
	}
	tools := filepath.Join(home, "bin")
	if b, err := os.ReadFile(ageBin); err != nil || os.MkdirAll(tools, 0o755) != nil || testtool.WriteExecutable(filepath.Join(tools, "age"), b) != nil {
		t.Fatalf("copy age: %v", err)
	}
	byHand, byHandPort := filepath.Join(home, "by-hand"), freePort(t)
	targetPG := strings.Replace(strings.TrimSuffix(target, "Z"), "T", " ", 1) + "+00"
	r = runAs(t, owner, nil, []string{"ARCHIVE=" + filepath.Join(env["BACKUP_LOCAL_DIR"], "pitr", sysid), "TARGET_TIME=" + targetPG,
		"DATA_DIR=" + byHand, "PORT=" + strconv.Itoa(byHandPort), "AGE_IDENTITY=" + env["BACKUP_ENCRYPTION_IDENTITY_FILE"]},
		"PATH="+tools+":$PATH bash "+script)
	t.Cleanup(func() { stopCmd(byHand) })
	if r.code != 0 {
		out, _ := exec.Command("ls", "-laR", filepath.Join(env["BACKUP_LOCAL_DIR"], "pitr", sysid, "base")).CombinedOutput()
		t.Fatalf("pitr-restore-by-hand.sh: %+v\n%s", r, out)
	}
	if got := markers(byHandPort, byHand); got != "A 20000" {
		t.Fatalf("restored by hand to %s: markers %q, want A only", target, got)
	}
	stopCmd(byHand)

	r, dir, port = restore("to-lsn", "--to-lsn", lsnA, "--pause")
	if r.code != 0 || !strings.Contains(r.stdout, "paused at the target") {
		t.Fatalf("restore --to-lsn %s: %+v", lsnA, r)
	}
	if got := markers(port, dir); got != "A 20000" {
		t.Fatalf("restored to %s: markers %q, want A only", lsnA, got)
	}

	r, dir, port = restore("latest", "--to", "latest", "--json")
	if r.code != 0 {
		t.Fatalf("restore --to latest: %+v", r)
	}
	if got := markers(port, dir); got != "A,B 20000" {
		t.Fatalf("restored to the latest: markers %q, want A and B", got)
	}

	// The catalog gone: the places' listings and the base backups'
	// sidecars say what the archive holds.
	gone := maps.Clone(env)
	gone["BACKUP_CATALOG_DATABASE_URL"] = cluster.URL("no_such_catalog")
	if r := rgz(t, gone, "pitr", "window"); r.code != 0 || !strings.Contains(r.stdout, "time unknown without the catalog") ||
		!strings.Contains(r.stderr, "catalog unreachable") {
		t.Fatalf("pitr window without the catalog: %+v", r)
	}
	r, dir, port = restoreAs(t, owner, gone, home, "no-catalog", "--to", "latest")
	if r.code != 0 {
		t.Fatalf("restore --to latest without the catalog: %+v", r)
	}
	if got := markers(port, dir); got != "A,B 20000" {
		t.Fatalf("restored to the latest without the catalog: markers %q, want A and B", got)
	}

	before := windows[0].From
	early, _ := time.Parse(time.RFC3339, before)
	r, dir, _ = restore("too-early", "--to", early.Add(-time.Hour).Format(time.RFC3339))
	if r.code != 1 || !strings.Contains(r.stderr, "outside the restorable window") || !strings.Contains(r.stderr, "base backup ") {
		t.Fatalf("a target before the window: %+v", r)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		t.Fatalf("a refused restore wrote into %s", dir)
	}
	if owner != nil {
		r := rgz(t, env, "pitr", "restore", "--to", "latest", "--data-dir", filepath.Join(home, "as-root"))
		if r.code != 1 || !strings.Contains(r.stderr, "refuses to run as root") {
			t.Fatalf("as root: %+v", r)
		}
	}

	// wal-fetch: a file the archive lacks is "not there" (1); an archive
	// it cannot read is "stop" (255), never "not there".
	// Two whole segments in a row, so that one is fetched ahead of the other.
	switched, err := wal.ParseLSN(queryString(t, url, `SELECT pg_switch_wal()::text`))
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, url, `INSERT INTO marker (name) VALUES ('E')`)
	var id catalog.WALFile
	waitFor(t, archiveWait, "the switched segment archived", func() bool {
		files := walFiles(t, store, sysid)
		for i := 0; i+1 < len(files); i++ {
			if files[i].Kind == catalog.WALSegment && files[i+1].Kind == catalog.WALSegment && files[i+1].SegmentNo == files[i].SegmentNo+1 &&
				lsnOf(t, files[i+1].EndLSN) >= switched {
				id = files[i]
				return true
			}
		}
		return false
	})
	missing := filepath.Join(home, "missing")
	if r := rgzAs(t, owner, env, "pitr", "wal-fetch", "--system-id", sysid, "0000000100000000000000FF", missing); r.code != 1 || !strings.Contains(r.stderr, "not in the archive") {
		t.Fatalf("wal-fetch of a file the archive lacks: %+v", r)
	}
	if owner != nil {
		// An identity the restoring user cannot read, an archive it
		// cannot read: both stop recovery.
		unreadable := maps.Clone(env)
		unreadable["BACKUP_ENCRYPTION_IDENTITY_FILE"] = identity
		if r := rgzAs(t, owner, unreadable, "pitr", "wal-fetch", "--system-id", sysid, id.FileName, missing); r.code != 255 {
			t.Fatalf("wal-fetch without its identity: %+v", r)
		}
		walDir := filepath.Join(env["BACKUP_LOCAL_DIR"], "pitr")
		if err := os.Chown(walDir, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(walDir, 0o700); err != nil {
			t.Fatal(err)
		}
		r := rgzAs(t, owner, env, "pitr", "wal-fetch", "--system-id", sysid, id.FileName, missing)
		if r.code != 255 || !strings.Contains(r.stderr, "could not be read") {
			t.Fatalf("wal-fetch that cannot read the archive: %+v", r)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed wal-fetch wrote %s", missing)
		}
		if err := os.Chown(walDir, int(owner.Uid), int(owner.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if r := rgzAs(t, owner, env, "pitr", "wal-fetch", "--system-id", sysid, id.FileName, missing); r.code != 0 {
		t.Fatalf("wal-fetch: %+v", r)
	}
	if st, err := os.Stat(missing); err != nil || st.Size() != 16<<20 {
		t.Fatalf("wal-fetch wrote %v %v", st, err)
	}
	// It fetched the next whole segment ahead; asked for it, it serves it
	// from there.
	seg, _, _ := wal.ParseSegmentName(id.FileName, wal.DefaultSegmentSize)
	next := wal.Segment{Timeline: seg.Timeline, No: seg.No + 1}.Name(wal.DefaultSegmentSize)
	ahead := filepath.Join(home, pitr.PrefetchDir, next)
	if _, err := os.Stat(ahead); err != nil {
		t.Fatalf("%s was not fetched ahead: %v", next, err)
	}
	if r := rgzAs(t, owner, env, "pitr", "wal-fetch", "--system-id", sysid, next, missing); r.code != 0 {
		t.Fatalf("wal-fetch of a segment fetched ahead: %+v", r)
	}
	if _, err := os.Stat(ahead); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the segment fetched ahead was not the one served: %v", err)
	}
	if r := rgzAs(t, owner, env, "pitr", "wal-fetch", "--system-id", "x", id.FileName, missing); r.code != 255 {
		t.Fatalf("wal-fetch with a bad command line: %+v", r)
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}

// stopRestored runs the stop command a restore printed ("stop it with:
// …"), as the restore's user.
func stopRestored(t *testing.T, owner *syscall.Credential, stdout string) {
	t.Helper()
	line := ""
	for _, l := range strings.Split(stdout, "\n") {
		if after, ok := strings.CutPrefix(l, "stop it with: "); ok {
			line = after
		}
	}
	if line == "" {
		var res struct {
			StopCommand string `json:"stop_command"`
		}
		if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.StopCommand == "" {
			t.Fatalf("no stop command in %q", stdout)
		}
		line = res.StopCommand
	}
	cmd := exec.Command("sh", "-c", line+" --mode=fast")
	if owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
	}
	if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "not running") && !strings.Contains(string(out), "does not exist") &&
		!strings.Contains(string(out), "not a database cluster directory") {
		t.Errorf("%s: %v\n%s", line, err, out)
	}
}

// runAs runs a shell line as cred (nil: ourselves), with the binary on
// the PATH, the environment env and the variables vars.
func runAs(t *testing.T, cred *syscall.Credential, env map[string]string, vars []string, line string) result {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = append([]string{"PATH=" + filepath.Dir(binary) + ":" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, vars...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := runWithinSplit(t, cmd, 3*time.Minute)
	return out.with(processExit(err))
}

func freePort(t *testing.T) int {
	t.Helper()
	_, text, _ := strings.Cut(freeAddr(t), ":")
	port, err := strconv.Atoi(text)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func lsnOf(t *testing.T, text string) wal.LSN {
	t.Helper()
	lsn, err := wal.ParseLSN(text)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}
