package main

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

// baseBackupWait is how long a test waits for a base backup: a few
// seconds alone, but one took 56 s under the race detector with the
// suite's other tests on both cores (compression and its read-back are
// Go code, instrumented).
const baseBackupWait = 3 * time.Minute

// archiveWait is how long a test waits for the archive to reach a point
// (segments shipped, a window's end, a replica taking over): as for a base
// backup, seconds alone, but a 16 MB segment's compression and read-back
// took 18 s under the race detector beside a base backup, and a place
// back after a failure ships the whole spool again.
const archiveWait = 3 * time.Minute

// pitrEnv is a daemon's environment with point-in-time recovery of a
// cluster of the test's own (its WAL is the test's alone), nothing else
// scheduled; the cluster lets a slot hold back at most 1 GB.
func pitrEnv(t *testing.T) (map[string]string, *pgtest.Cluster, string) {
	t.Helper()
	src := pgtest.Own(t)
	db := src.NewDatabase(t)
	env := serveEnv(t)
	env["BACKUP_LOCAL_DIR"] = ownedDir(t, src) // the WAL spool is written with a flush per write: in memory where the machine has it
	env["BACKUP_DATABASE_URL"] = src.URL(db)
	env["BACKUP_PITR_ENABLED"] = "true"
	env["BACKUP_PITR_SHIP_SECONDS"] = "1"
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_RESTORE_TEST_ENABLED"] = "false"
	return env, src, db
}

// exec runs SQL statements on db, failing the test on an error.
func execSQL(t *testing.T, url string, sql ...string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, s := range sql {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func queryString(t *testing.T, url, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// A server whose slot could fill its disk is refused at start, with what
// to change; once it is set, of two replicas one streams and the other
// stands by, every finished segment and the one being written reach the
// archive and the catalog, and when the streaming replica stops the other
// takes over.
func TestServeStreamsWALOneReplicaAtATime(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	url := src.URL(db)

	refused := rgzCommand(env, "serve")
	out, err := runWithin(t, refused, time.Minute)
	if code := processExit(err); code != 2 || !strings.Contains(out, "BACKUP_PITR_ENABLED") || !strings.Contains(out, "max_slot_wal_keep_size is -1") {
		t.Fatalf("serve against a server without max_slot_wal_keep_size: exit %d\n%s", code, out)
	}

	src.Set(t, "max_slot_wal_keep_size", "1GB")
	a, b := startServe(t, env), startServe(t, env)
	streaming := func(d *daemon) bool {
		return strings.Count(d.logs.String(), "streaming the server's WAL") > 0
	}
	waitFor(t, archiveWait, "a replica streaming, the other standing by", func() bool {
		return (streaming(a) || streaming(b)) && strings.Contains(a.logs.String()+b.logs.String(), "stands by")
	})
	if streaming(a) && streaming(b) {
		t.Fatalf("both replicas stream:\n%s\n%s", a.logs, b.logs)
	}
	first, second := a, b
	if streaming(b) {
		first, second = b, a
	}

	sysid := queryString(t, url, `SELECT system_identifier::text FROM pg_control_system()`)
	store := openStore(t, env)
	archived := func(afterLSN string) bool {
		conn, err := pgx.Connect(context.Background(), env["BACKUP_CATALOG_DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pitr_wal_files WHERE system_id = $1::numeric
			AND kind = 'segment' AND end_lsn > $2::pg_lsn`, sysid, afterLSN).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	execSQL(t, url, `CREATE TABLE marker (at timestamptz DEFAULT now())`, `INSERT INTO marker DEFAULT VALUES`)
	switched := queryString(t, url, `SELECT pg_switch_wal()::text`)
	execSQL(t, url, `INSERT INTO marker DEFAULT VALUES`)
	waitFor(t, archiveWait, "the switched segment in the catalog", func() bool { return archived(switched) })
	waitFor(t, archiveWait, "a partial copy of the next segment", func() bool {
		files := walFiles(t, store, sysid)
		for _, f := range files {
			if f.Kind == catalog.WALPartial {
				return true
			}
		}
		return false
	})
	for _, f := range walFiles(t, store, sysid) {
		path := filepath.Join(env["BACKUP_LOCAL_DIR"], filepath.FromSlash(f.ObjectKey))
		held := func() bool { st, err := os.Stat(path); return err == nil && st.Size() == f.StoredSize }
		// Retention, after the first base backup, removes the WAL before
		// it: from the places first, then from the catalog.
		recorded := func() bool {
			return slices.ContainsFunc(walFiles(t, store, sysid), func(g catalog.WALFile) bool { return g.ObjectKey == f.ObjectKey })
		}
		if !held() {
			waitFor(t, 30*time.Second, f.FileName+" in the backup directory, or out of the catalog", func() bool { return held() || !recorded() })
		}
		if !strings.HasPrefix(f.ObjectKey, "pitr/"+sysid+"/wal/") {
			t.Errorf("%s stored at %s", f.FileName, f.ObjectKey)
		}
	}

	spool, err := filepath.Glob(filepath.Join(env["BACKUP_LOCAL_DIR"], ".pitr-spool", sysid+"-rgz_backup"))
	if err != nil || len(spool) != 1 {
		t.Fatalf("spool: %v %v", spool, err)
	}
	if st, err := os.Stat(spool[0]); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the spool holds plaintext WAL: %v %v", st.Mode(), err)
	}

	// The first base backup is taken as soon as the archive streams; one
	// asked with --enqueue is taken by the daemon; one taken by hand
	// runs beside the stream.
	id := walFiles(t, store, sysid)[0].SystemID
	baseBackups := func() []catalog.BaseBackup {
		rows, err := store.BaseBackups(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	succeeded := func(trigger string) bool {
		for _, b := range baseBackups() {
			if b.TriggeredBy == trigger && b.Status == "success" {
				return true
			}
		}
		return false
	}
	waitFor(t, baseBackupWait, "the first base backup", func() bool { return succeeded("first") })
	if r := rgz(t, env, "pitr", "base-backup", "--enqueue"); r.code != 0 || !strings.Contains(r.stdout, "asked the daemon") {
		t.Fatalf("--enqueue: %+v", r)
	}
	waitFor(t, baseBackupWait, "the base backup asked of the daemon", func() bool { return succeeded("manual") })
	r := rgz(t, env, "pitr", "base-backup")
	if r.code != 0 || !strings.Contains(r.stdout, "base backup ") || !strings.Contains(r.stdout, "timeline 1") {
		t.Fatalf("pitr base-backup: %+v", r)
	}
	for _, b := range baseBackups() {
		if b.Status != "success" {
			t.Errorf("base backup %+v", b)
			continue
		}
		if st, err := os.Stat(filepath.Join(env["BACKUP_LOCAL_DIR"], filepath.FromSlash(b.ObjectKey))); err != nil || st.Size() != b.StoredSize {
			t.Errorf("base backup %s: %v", b.ObjectKey, err)
		}
	}
	if n := len(baseBackups()); n != 3 {
		t.Errorf("%d base backups, want 3", n)
	}
	r = rgz(t, env, "pitr", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "streaming") || !strings.Contains(r.stdout, "restorable:\n  from ") || !strings.Contains(r.stdout, "3 base backups") {
		t.Fatalf("pitr status: %+v", r)
	}
	var st struct {
		State      string `json:"state"`
		SlotActive bool   `json:"slot_active"`
	}
	if r := rgz(t, env, "pitr", "status", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.State != "streaming" || !st.SlotActive {
		t.Fatalf("pitr status --json: %+v", r)
	}
	if r := rgz(t, env, "pitr", "retention", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "would delete 0 base backups") {
		t.Fatalf("pitr retention --dry-run: %+v", r)
	}
	if r := rgz(t, env, "pitr", "retention"); r.code != 0 || !strings.Contains(r.stdout, "deleted 0 base backups") {
		t.Fatalf("pitr retention: %+v", r)
	}
	off := maps.Clone(env)
	off["BACKUP_PITR_ENABLED"] = "false"
	if r := rgz(t, off, "pitr", "base-backup"); r.code != 2 || !strings.Contains(r.stderr, "BACKUP_PITR_ENABLED") {
		t.Fatalf("pitr base-backup without PITR: %+v", r)
	}

	first.stop(syscall.SIGTERM, 30*time.Second)
	if first.code != 0 {
		t.Fatalf("serve exited %d:\n%s", first.code, first.logs)
	}
	waitFor(t, archiveWait, "the other replica taking over", func() bool { return streaming(second) })
	// WAL first: a switch at a segment's very start (a base backup just
	// ended one) switches nothing.
	execSQL(t, url, `INSERT INTO marker DEFAULT VALUES`)
	switched = queryString(t, url, `SELECT pg_switch_wal()::text`)
	execSQL(t, url, `INSERT INTO marker DEFAULT VALUES`)
	waitFor(t, archiveWait, "the next switched segment in the catalog", func() bool { return archived(switched) })
	second.stop(syscall.SIGTERM, 30*time.Second)
	if second.code != 0 {
		t.Fatalf("serve exited %d:\n%s", second.code, second.logs)
	}
	if r := rgz(t, env, "pitr", "status"); r.code != 1 || !strings.Contains(r.stdout, "not streaming") || !strings.Contains(r.stderr, "no receiver reads the slot") {
		t.Fatalf("pitr status with no daemon: %+v", r)
	}
}

func walFiles(t *testing.T, store *catalog.Store, sysid string) []catalog.WALFile {
	t.Helper()
	files, err := store.WALFiles(context.Background(), parseSysID(t, sysid))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// runWithin runs cmd to its end, killed after limit; it returns what it
// wrote (stdout and stderr) and how it ended.
func runWithin(t *testing.T, cmd *exec.Cmd, limit time.Duration) (string, error) {
	t.Helper()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(limit, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return out.String(), err
}

// processExit is how a finished command ended: 0, its exit code, or -1.
func processExit(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// A slot lost while no daemon read it (the server removed the WAL past
// max_slot_wal_keep_size) is said loudly at the next start, made again,
// and a base backup taken at once: the window before the gap ends there,
// a new one begins.
func TestSlotLostStartsANewWindow(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	url := src.URL(db)
	src.Set(t, "max_slot_wal_keep_size", "1GB")
	d := startServe(t, env)
	store := openStore(t, env)
	sysid := queryString(t, url, `SELECT system_identifier::text FROM pg_control_system()`)
	bases := func() []catalog.BaseBackup {
		files := walFiles(t, store, sysid)
		if len(files) == 0 {
			return nil
		}
		rows, err := store.BaseBackups(context.Background(), files[0].SystemID)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	waitFor(t, baseBackupWait, "the first base backup", func() bool { b := bases(); return len(b) == 1 && b[0].Status == "success" })
	// A segment being written when the daemon stops: the spool keeps it.
	execSQL(t, url, `CREATE TABLE churn (v text)`)
	waitFor(t, archiveWait, "a partial copy", func() bool {
		for _, f := range walFiles(t, store, sysid) {
			if f.Kind == catalog.WALPartial {
				return true
			}
		}
		return false
	})
	d.stop(syscall.SIGTERM, 30*time.Second)

	src.Set(t, "max_slot_wal_keep_size", "1MB")
	waitFor(t, archiveWait, "the slot lost", func() bool {
		execSQL(t, url, `INSERT INTO churn SELECT md5(g::text) FROM generate_series(1, 20000) g`, `SELECT pg_switch_wal()`, `CHECKPOINT`)
		return queryString(t, url, `SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'rgz_backup'`) == "lost"
	})
	src.Set(t, "max_slot_wal_keep_size", "1GB")

	d = startServe(t, env)
	waitFor(t, baseBackupWait, "a base backup after the loss", func() bool {
		for _, b := range bases() {
			if b.TriggeredBy == "slot_lost" && b.Status == "success" {
				return true
			}
		}
		return false
	})
	if !strings.Contains(d.logs.String(), "THE REPLICATION SLOT WAS LOST") || !strings.Contains(d.logs.String(), "shipped as far as it was written") {
		t.Fatalf("the loss was not said:\n%s", d.logs)
	}
	if status := queryString(t, url, `SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'rgz_backup'`); status == "lost" {
		t.Fatal("the slot was not made again")
	}
	var windows []struct {
		BaseBackup string `json:"base_backup"`
		ToLSN      string `json:"to_lsn"`
	}
	if r := rgz(t, env, "pitr", "restore", "--to", "latest", "--pause", "--data-dir", t.TempDir()); r.code != 2 || !strings.Contains(r.stderr, "--pause") {
		t.Fatalf("--pause with --to latest: %+v", r)
	}
	waitFor(t, archiveWait, "two windows", func() bool {
		r := rgz(t, env, "pitr", "window", "--json")
		if r.code != 0 {
			t.Fatalf("pitr window: %+v", r)
		}
		if err := json.Unmarshal([]byte(r.stdout), &windows); err != nil {
			t.Fatal(err)
		}
		return len(windows) == 2
	})
	// The gap shows in the status too: two spans, not one.
	if r := rgz(t, env, "pitr", "status", "--json"); r.code != 0 || strings.Count(r.stdout, `"from"`) != 2 {
		t.Fatalf("pitr status after a gap: %+v", r)
	}
	// And in the metrics, for RgzBackupPITRSlotLost: when it was lost.
	lost := regexp.MustCompile(`rgz_backup_pitr_slot_lost_timestamp_seconds\{slot="rgz_backup",system_id="` + sysid + `"\} (\S+)`)
	waitFor(t, 30*time.Second, "the loss in the metrics", func() bool {
		m := lost.FindStringSubmatch(strings.Join(scrape(t, d.addr), "\n"))
		at, _ := strconv.ParseFloat(valueOr(m, 1), 64)
		return at > float64(time.Now().Add(-10*time.Minute).Unix())
	})
	d.stop(syscall.SIGTERM, 30*time.Second)
}

// valueOr is m[i], or "" when m is too short (no match).
func valueOr(m []string, i int) string {
	if len(m) > i {
		return m[i]
	}
	return ""
}

// A place of the archive that is down holds nothing back but the spool:
// finished segments wait there (not recorded, not removed) and are all
// shipped, in order, once the place is back.
func TestPlaceDownSpoolWaits(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	url := src.URL(db)
	src.Set(t, "max_slot_wal_keep_size", "1GB")
	nas := filepath.Join(t.TempDir(), "nas")
	if err := os.WriteFile(nas, []byte("not a directory: the place is down"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["BACKUP_DESTINATIONS"] = "file://" + nas
	d := startServe(t, env)
	sysid := queryString(t, url, `SELECT system_identifier::text FROM pg_control_system()`)
	execSQL(t, url, `CREATE TABLE churn (v text)`)
	var last string
	for range 3 {
		execSQL(t, url, `INSERT INTO churn VALUES ('x')`)
		last = queryString(t, url, `SELECT pg_switch_wal()::text`)
	}
	execSQL(t, url, `INSERT INTO churn VALUES ('y')`)
	spool := filepath.Join(env["BACKUP_LOCAL_DIR"], ".pitr-spool", sysid+"-rgz_backup")
	ready := func() int {
		entries, _ := os.ReadDir(spool)
		n := 0
		for _, e := range entries {
			if len(e.Name()) == 24 {
				n++
			}
		}
		return n
	}
	waitFor(t, archiveWait, "finished segments waiting in the spool, the place's failure logged", func() bool {
		return ready() >= 3 && strings.Contains(d.logs.String(), nas)
	})
	conn, err := pgx.Connect(context.Background(), env["BACKUP_CATALOG_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	shippedPast := func(lsn string) bool {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pitr_wal_files WHERE system_id = $1::numeric
			AND kind = 'segment' AND end_lsn >= $2::pg_lsn`, sysid, lsn).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	if shippedPast(last) {
		t.Fatal("a segment was recorded while a place did not hold it")
	}

	if err := os.Remove(nas); err != nil {
		t.Fatal(err)
	}
	waitFor(t, archiveWait, "the spool shipped once the place is back", func() bool { return shippedPast(last) && ready() == 0 })
	store := openStore(t, env)
	for _, f := range walFiles(t, store, sysid) {
		if f.Kind == catalog.WALSegment && len(f.Copies) != 2 {
			t.Errorf("%s: copies %v, want the backup directory and the NAS", f.FileName, f.Copies)
		}
		if _, err := os.Stat(filepath.Join(nas, filepath.FromSlash(f.ObjectKey))); f.Kind == catalog.WALSegment && err != nil {
			t.Errorf("%s is not on the NAS: %v", f.FileName, err)
		}
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}
