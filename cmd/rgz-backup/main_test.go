package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/s3test"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

var (
	cluster *pgtest.Cluster
	s3srv   *s3test.Server
	binary  string
	// buildFlags build the binary under test: without DWARF (nothing
	// here reads it, and linking is a third cheaper), without the
	// checkout's path (a fresh clone reuses what another one compiled);
	// under `go test -race` with -race too (race_test.go), so that the
	// daemon's own goroutines are checked.
	buildFlags = []string{"-trimpath", "-ldflags=-s -w"}
)

// TestMain builds the real binary once; tests run it as an operator would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rgz-cli-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	// Readable by every user: the point-in-time recovery tests run it as
	// PostgreSQL's user when they run as root (PostgreSQL refuses root).
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rgz-backup")
	// The build runs while MinIO and PostgreSQL start.
	var out bytes.Buffer
	build := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, ".")...)
	build.Stdout, build.Stderr = &out, &out
	if err := build.Start(); err != nil {
		panic(err)
	}
	built := func() bool {
		if err := build.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out.String())
			return false
		}
		return true
	}
	// os.Exit skips deferred calls: run them first.
	code := s3test.Run(&s3srv, func() int { return pgtest.Main(runAfter{m, built}, &cluster) })
	if build.ProcessState == nil {
		built()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// runAfter runs the tests once ready says they can run.
type runAfter struct {
	m     *testing.M
	ready func() bool
}

func (r runAfter) Run() int {
	if !r.ready() {
		return 1
	}
	return r.m.Run()
}

type result struct {
	code           int
	stdout, stderr string
}

// rgz runs the binary with exactly the given environment (plus PATH).
func rgz(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	cmd := rgzCommand(env, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errOut.String()}
}

// rgzCommand is the binary with exactly the given environment (plus PATH),
// not started.
func rgzCommand(env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func sampleEnv(t *testing.T) map[string]string {
	t.Helper()
	db := sample.Database(t, cluster, 1)
	return map[string]string{
		"BACKUP_DATABASE_URL":         cluster.URL(db),
		"BACKUP_CATALOG_DATABASE_URL": cluster.URL(fixture.Catalog(t, cluster)),
		"BACKUP_LOCAL_DIR":            t.TempDir(),
		"BACKUP_MIN_SIZE_MB":          "0",
		"BACKUP_MIN_FREE_SPACE_GB":    "0",
	}
}

func dumps(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.dump*"))
	var out []string
	for _, f := range m {
		if !strings.HasSuffix(f, ".sha256") && !strings.HasSuffix(f, ".manifest.json") {
			out = append(out, f)
		}
	}
	return out
}

func TestBackupListShowVerify(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	r := rgz(t, env, "backup", "--json")
	if r.code != 0 {
		t.Fatalf("backup exit %d: %s", r.code, r.stderr)
	}
	// Exactly one JSON object, keys = column names.
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value on stdout:\n%s", r.stdout)
	}
	for _, col := range []string{"id", "backup_type", "backup_date", "filename", "file_path", "file_size_bytes", "checksum_crc32",
		"status", "duration_seconds", "error_message", "archive_s3_path", "created_at", "retention_until", "restore_tested_at",
		"restore_test_status", "checksum_sha256", "row_counts", "object_counts", "triggered_by", "attempt", "hostname"} {
		if _, ok := row[col]; !ok {
			t.Errorf("JSON lacks column %q", col)
		}
	}
	if row["status"] != "success" || row["triggered_by"] != "manual" || row["backup_type"] != "pg_dump" {
		t.Fatalf("row: %v", row)
	}
	id, filename := row["id"].(string), row["filename"].(string)

	list := rgz(t, env, "list", "--days", "1", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(list.stdout), &rows); err != nil || len(rows) != 1 || rows[0]["id"] != id {
		t.Fatalf("list --json: %v %s", err, list.stdout)
	}
	if text := rgz(t, env, "list"); text.code != 0 || !strings.Contains(text.stdout, filename) || !strings.Contains(text.stdout, "success") {
		t.Fatalf("list: %+v", text)
	}
	for _, ref := range []string{filename, id} {
		show := rgz(t, env, "show", ref)
		if show.code != 0 || !strings.Contains(show.stdout, "SUCCESS ✓") || !strings.Contains(show.stdout, row["checksum_crc32"].(string)) {
			t.Fatalf("show %s: %+v", ref, show)
		}
	}
	if show := rgz(t, env, "show", "20000101_000000.dump.gz"); show.code != 1 || !strings.Contains(show.stderr, "no backup named") {
		t.Fatalf("show unknown: %+v", show)
	}

	for _, ref := range []string{filename, id} { // verify FILENAME|ID, as its usage says
		if v := rgz(t, env, "verify", ref); v.code != 0 || !strings.HasPrefix(v.stdout, "OK   "+filename) {
			t.Fatalf("verify %s: %+v", ref, v)
		}
	}
	for _, bad := range []string{"passwd", "20260205_030015.dump.gz.sha256", "-"} {
		if v := rgz(t, env, "verify", bad); v.code != 2 || !strings.Contains(v.stderr, "FILENAME") {
			t.Fatalf("verify %s: %+v", bad, v)
		}
	}
	if v := rgz(t, env, "verify", "--all"); v.code != 0 || strings.Count(v.stdout, "OK ") != 1 {
		t.Fatalf("verify --all: %+v", v)
	}
	// Damage the file: verify says BAD and exits 1.
	path := row["file_path"].(string)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o640)
	if v := rgz(t, env, "verify", "--all"); v.code != 1 || !strings.Contains(v.stdout, "BAD  "+filename) || !strings.Contains(v.stdout, "checksum") {
		t.Fatalf("verify of a damaged file: %+v", v)
	}
}

// With the catalog gone (it lived in the lost database), verify reads the manifests.
func TestVerifyWithoutCatalog(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	env["BACKUP_CATALOG_DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/gone?sslmode=disable"
	v := rgz(t, env, "verify", "--all")
	if v.code != 0 || strings.Count(v.stdout, "OK ") != 1 || !strings.Contains(v.stderr, "using the manifests") {
		t.Fatalf("verify without catalog: %+v", v)
	}
}

// The first backup of a fresh catalog is its month's compliance copy.
func TestBackupReportOnTerminalOutput(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	r := rgz(t, env, "backup")
	for _, want := range []string{"BACKUP POSTGRESQL", "SUCCESS ✓", "Size (compressed)", "Size (uncompressed)", "Compression ratio",
		"Checksum CRC32", "Tables: 7", "public.radius_sessions: 5,000 rows", "ARCEP copy: Keep until", "pg_restore --list check: OK"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestLockHeldExits75(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	dir := env["BACKUP_LOCAL_DIR"]
	release, err := lock.File(dir, lock.Holder{PID: 31337, Host: "noc-1", Since: time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r := rgz(t, env, "backup", "--json")
	if r.code != 75 || !strings.Contains(r.stderr, "pid 31337 on host noc-1 since 2026-02-05T03:00:00Z") || r.stdout != "" {
		t.Fatalf("lock held: %+v", r)
	}
	if len(dumps(dir)) != 0 {
		t.Fatalf("second file written: %v", dumps(dir))
	}
}

func TestFailureExits1WithFailedRow(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	env["BACKUP_DATABASE_URL"] = "postgres://rgz:hunter2-secret@127.0.0.1:1/rgz?sslmode=disable"
	r := rgz(t, env, "backup", "--json")
	if r.code != 1 {
		t.Fatalf("exit %d: %+v", r.code, r)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil || row["status"] != "failed" || !strings.Contains(fmt.Sprint(row["error_message"]), "connect") {
		t.Fatalf("row %v (%v)", row, err)
	}
	if strings.Contains(r.stdout+r.stderr, "hunter2") {
		t.Fatal("password printed")
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	t.Parallel()
	base := map[string]string{"POSTGRES_USER": "rgz", "POSTGRES_DB": "rgz"}
	cases := map[string]string{
		"BACKUP_COMPRESSION_FORMAT=lz4":     "BACKUP_COMPRESSION_FORMAT",
		"BACKUP_COMPRESSION_LEVEL=0":        "BACKUP_COMPRESSION_LEVEL",
		"BACKUP_COMPRESSION_LEVEL=12":       "BACKUP_COMPRESSION_LEVEL",
		"BACKUP_LOCAL_RETENTION_DAYS=-3":    "BACKUP_LOCAL_RETENTION_DAYS",
		"BACKUP_CRITICAL_RETENTION_DAYS=-1": "BACKUP_CRITICAL_RETENTION_DAYS",
		"POSTGRES_PORT=abc":                 "POSTGRES_PORT",
		"BACKUP_TIMEOUT_SECONDS=soon":       "BACKUP_TIMEOUT_SECONDS",
	}
	for setting, variable := range cases {
		for _, verb := range []string{"backup", "list", "verify --all", "config", "migrate"} {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			k, v, _ := strings.Cut(setting, "=")
			env[k] = v
			r := rgz(t, env, strings.Fields(verb)...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 2 || len(lines) != 1 || !strings.Contains(lines[0], variable+"=") || !strings.Contains(lines[0], v) {
				t.Errorf("%s %s: exit %d, stderr %q", setting, verb, r.code, r.stderr)
			}
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"backup", "--bogus"}, {"backup", "extra"}, {"verify"}, {"verify", "a", "--all"}, {"show"}, {"frobnicate"}, {"list", "--days", "x"}} {
		r := rgz(t, map[string]string{}, args...)
		if r.code != 2 || r.stderr == "" || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := rgz(t, map[string]string{"POSTGRES_USER": "u", "POSTGRES_DB": "d"}, "list", "--days", "0"); r.code != 2 || !strings.Contains(r.stderr, "--days") {
		t.Errorf("--days 0: %+v", r)
	}
	// Both ways of naming several databases at once: which one wins would
	// be a guess.
	if r := rgz(t, map[string]string{"POSTGRES_USER": "u", "BACKUP_DATABASES": "*", "BACKUP_TARGETS_FILE": "/etc/targets.yaml"}, "status"); r.code != 2 ||
		!strings.Contains(r.stderr, "BACKUP_DATABASES") || !strings.Contains(r.stderr, "BACKUP_TARGETS_FILE") {
		t.Errorf("BACKUP_DATABASES and BACKUP_TARGETS_FILE: %+v", r)
	}
	// A targets file that does not read: exit 2 naming its line.
	bad := filepath.Join(t.TempDir(), "targets.yaml")
	os.WriteFile(bad, []byte("targets:\n  - name: Bad Name\n"), 0o600)
	if r := rgz(t, map[string]string{"POSTGRES_USER": "u", "BACKUP_TARGETS_FILE": bad}, "status"); r.code != 2 || !strings.Contains(r.stderr, bad+":") {
		t.Errorf("a bad targets file: %+v", r)
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Parallel()
	r := rgz(t, map[string]string{"POSTGRES_USER": "rgz", "POSTGRES_DB": "rgz", "POSTGRES_PASSWORD": "pw-one",
		"BACKUP_CATALOG_DATABASE_URL": "postgres://c:pw-two@h/cat"}, "config")
	if r.code != 0 || strings.Contains(r.stdout, "pw-one") || strings.Contains(r.stdout, "pw-two") || !strings.Contains(r.stdout, "POSTGRES_PASSWORD=***") {
		t.Fatalf("config: %+v", r)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BACKUP_DATABASE_URL": cluster.URL(cluster.NewDatabase(t))}
	if r := rgz(t, env, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "Applied 0001_backup_executions.sql") {
		t.Fatalf("first migrate: %+v", r)
	}
	if r := rgz(t, env, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "current") {
		t.Fatalf("second migrate: %+v", r)
	}
}

// The catalog's database is created when it does not exist, as migrate
// would, so that BACKUP_CATALOG_DATABASE_URL alone is enough (the targets
// file's promise); a role that may not create it is told the createdb to
// ask for.
func TestCatalogDatabaseCreatedWhenMissing(t *testing.T) {
	t.Parallel()
	name := "catalog_" + strings.ToLower(strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), name) })
	env := map[string]string{"BACKUP_CATALOG_DATABASE_URL": cluster.URL(name), "BACKUP_TARGETS_FILE": writeTargetsFile(t, cluster.URL("postgres"))}
	if r := rgz(t, env, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "Applied 0001_backup_executions.sql") {
		t.Fatalf("migrate of a catalog whose database is missing: %+v", r)
	}
	// serve at start, likewise.
	served := name + "_served"
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), served) })
	senv := maps.Clone(env)
	senv["BACKUP_CATALOG_DATABASE_URL"], senv["POSTGRES_BACKUP_ENABLED"], senv["BACKUP_LOCAL_DIR"] = cluster.URL(served), "false", t.TempDir()
	d := startServe(t, senv)
	d.stop(syscall.SIGTERM, 30*time.Second)
	if !databaseExists(t, served) {
		t.Fatal("serve did not create its catalog's database")
	}
	role := "nocreate_" + name[len("catalog_"):]
	conn := cluster.Conn(t, "postgres")
	if _, err := conn.Exec(context.Background(), "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	missing := name + "_x"
	env["BACKUP_CATALOG_DATABASE_URL"] = strings.Replace(cluster.URL(missing), "postgres@", role+"@", 1)
	if r := rgz(t, env, "migrate"); r.code == 0 || !strings.Contains(r.stderr, "createdb "+missing) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Fatalf("migrate as a role without CREATEDB: %+v", r)
	}
}

// writeTargetsFile is a targets file of one target, the server of url.
func writeTargetsFile(t *testing.T, url string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(p, []byte("targets:\n  - name: main\n    url: "+url+"\n    databases: [\"*\"]\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// A disk that fills up mid-write (here: a file-size limit on the process,
// which fails writes like a full disk) fails the backup cleanly and leaves
// the older backup exactly as it was.
func TestDiskFullMidWrite(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	dir := env["BACKUP_LOCAL_DIR"]
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("first backup: %+v", r)
	}
	before := snapshotDir(t, dir)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatal("prlimit (util-linux, installed by scripts/install-deps.sh) is needed:", err)
	}
	cmd := exec.Command(prlimit, "--fsize=100000", binary, "backup", "--json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, stdout %s", err, out)
	}
	var row map[string]any
	if err := json.Unmarshal(out, &row); err != nil || row["status"] != "failed" || !strings.Contains(fmt.Sprint(row["error_message"]), "file too large") {
		t.Fatalf("row %v (%v)", row, err)
	}
	if after := snapshotDir(t, dir); !maps.Equal(before, after) {
		t.Fatalf("directory changed:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshotDir maps each file of dir to its content's SHA-256.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		if e.Name() == lock.FileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	return m
}
