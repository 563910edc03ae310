package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// env is a test's environment (fixture.Env: a sample database, its own
// catalog database and backup directory).
type env struct {
	*fixture.Env
	t *testing.T
}

func newEnv(t *testing.T, scale int) *env { return &env{Env: fixture.New(t, cluster, scale), t: t} }

func (e *env) config() config.Config { return e.Config(e.t) }

func (e *env) run(opts Options) (catalog.Execution, error) {
	opts.Config = e.config()
	return Run(context.Background(), opts)
}

// good takes a backup that must succeed.
func (e *env) good() catalog.Execution {
	e.t.Helper()
	row, err := e.run(Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	return row
}

// files lists the backup directory, without the lock file.
func (e *env) files() []string {
	entries, _ := os.ReadDir(e.Dir)
	var names []string
	for _, en := range entries {
		if en.Name() != lock.FileName {
			names = append(names, en.Name())
		}
	}
	return names
}

func (e *env) catalogRows() []catalog.Execution {
	e.t.Helper()
	s, err := catalog.Open(context.Background(), config.Database{URL: cluster.URL(e.Catalog)})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.List(context.Background(), catalog.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func query[T any](t *testing.T, db, sql string) T {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cluster.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// restore loads a backup file into a new database, as an operator would:
// decrypt (opts) and decompress, then pg_restore.
func restore(t *testing.T, path string, format archive.Format, opts ...archive.ReadOption) string {
	t.Helper()
	ctx := context.Background()
	f, err := archive.Unnamed(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := archive.Check(ctx, path, format, f, opts...); err != nil {
		t.Fatal(err)
	}
	target := cluster.NewDatabase(t)
	if err := (dump.Tools{}).Restore(ctx, config.Database{URL: cluster.URL(target)}, f, 2); err != nil {
		t.Fatal(err)
	}
	return target
}

func TestRoundTripEveryFormat(t *testing.T) {
	t.Parallel()
	for _, format := range archive.Formats {
		t.Run(string(format), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 1)
			e.Vars["BACKUP_COMPRESSION_FORMAT"] = string(format)
			row, err := e.run(Options{})
			if err != nil {
				t.Fatal(err)
			}
			if row.Status != catalog.StatusSuccess || row.Suspect || len(row.Warnings) != 0 {
				t.Fatalf("row: status %s suspect %v warnings %v", row.Status, row.Suspect, row.Warnings)
			}
			if !strings.HasSuffix(row.Filename, archive.Extension(format)) || *row.FilePath != filepath.Join(e.Dir, row.Filename) {
				t.Fatalf("file %s at %s", row.Filename, *row.FilePath)
			}
			want := []string{row.Filename, row.Filename + ".manifest.json", row.Filename + ".sha256", *row.GlobalsFilename}
			if got := e.files(); strings.Join(got, ",") != strings.Join(sortStrings(want), ",") {
				t.Fatalf("directory holds %v, want %v", got, want)
			}

			target := restore(t, *row.FilePath, format)
			sizes := sample.SizesAt(1)
			for table, wantRows := range map[string]int{
				"public.subscribers": sizes.Subscribers, "public.radius_sessions": sizes.Sessions,
				"billing.invoices": sizes.Invoices, "public.Réclamations clients": sizes.Claims,
			} {
				if row.RowCounts[table] != int64(wantRows) {
					t.Errorf("recorded %s rows = %d, want %d", table, row.RowCounts[table], wantRows)
				}
			}
			for table, n := range row.RowCounts {
				schema, name, _ := strings.Cut(table, ".")
				got := query[int64](t, target, "SELECT count(*) FROM "+pgx.Identifier{schema, name}.Sanitize())
				if got != n {
					t.Errorf("%s: restored %d rows, snapshot counted %d", table, got, n)
				}
			}
			if a, b := cluster.SchemaOnly(t, e.Source), cluster.SchemaOnly(t, target); a != b {
				t.Errorf("schema differs after restore (%d vs %d bytes)", len(a), len(b))
			}
			if v := query[int64](t, target, "SELECT last_value FROM billing.invoice_number_seq"); v != 987654 {
				t.Errorf("sequence value %d after restore", v)
			}
			if v := query[string](t, target, "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata"); !strings.Contains(v, "MOSAÏQUE") {
				t.Errorf("large object %q after restore", v)
			}
			if v := query[int64](t, target, "SELECT count(*) FROM billing.monthly_revenue"); v == 0 {
				t.Error("materialized view empty after restore")
			}
			if row.ObjectCounts.Tables != 7 || row.ObjectCounts.Triggers != 3 || row.ObjectCounts.Functions != 3 ||
				row.ObjectCounts.Sequences != 8 || row.ObjectCounts.Indexes != 3 || row.ObjectCounts.LargeObjects != 1 {
				t.Errorf("object counts %+v", row.ObjectCounts)
			}

			// The sidecars: sha256sum -c accepts ours; the manifest is the row.
			cmd := exec.Command("sha256sum", "-c", row.Filename+".sha256")
			cmd.Dir = e.Dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sha256sum -c: %v %s", err, out)
			}
			var m layout.Manifest
			b, _ := os.ReadFile(*row.FilePath + ".manifest.json")
			if err := json.Unmarshal(b, &m); err != nil || m.ID != row.ID || *m.ChecksumSHA256 != *row.ChecksumSHA256 || m.RowCounts["public.subscribers"] == 0 {
				t.Fatalf("manifest %v: %+v", err, m.Execution)
			}
			// The catalog holds the same row as the manifest, stamped now.
			rows := e.catalogRows()
			fromCatalog, _ := json.Marshal(rows[0])
			fromManifest, _ := json.Marshal(m.Execution)
			if len(rows) != 1 || !bytes.Equal(fromCatalog, fromManifest) {
				t.Fatalf("catalog row differs from the manifest:\n%s\n%s", fromCatalog, fromManifest)
			}
			if age := time.Since(rows[0].CreatedAt); age < 0 || age > time.Minute {
				t.Fatalf("created_at %s", rows[0].CreatedAt)
			}
			globals, _ := os.ReadFile(filepath.Join(e.Dir, *row.GlobalsFilename))
			if len(globals) == 0 {
				t.Fatal("empty globals file")
			}
		})
	}
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// The specification keeps backup_executions in the backed-up database itself.
func TestCatalogDefaultsToTheBackedUpDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	delete(e.Vars, "BACKUP_CATALOG_DATABASE_URL")
	first, err := e.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.run(Options{Clock: clock.Shifted(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if n := query[int64](t, e.Source, "SELECT count(*) FROM backup_executions"); n != 2 {
		t.Fatalf("%d rows in the backed-up database's catalog", n)
	}
	// The second dump contains the first row (as of its snapshot), not itself.
	if second.RowCounts["public.backup_executions"] != 1 || first.RowCounts["public.backup_executions"] != 0 {
		t.Fatalf("catalog rows in snapshots: first %d, second %d", first.RowCounts["public.backup_executions"], second.RowCounts["public.backup_executions"])
	}
}

func TestLockHeldDoesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	release, err := lock.File(e.Dir, lock.Holder{PID: 4242, Host: "other-host", Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = e.run(Options{})
	var held *lock.HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "pid 4242 on host other-host") {
		t.Fatalf("err = %v", err)
	}
	if len(e.files()) != 0 || len(e.catalogRows()) != 0 {
		t.Fatalf("a refused backup left files %v or rows", e.files())
	}
}

func TestAdvisoryLockHeldOnAnotherHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	release, err := lock.Advisory(context.Background(), config.Database{URL: cluster.URL(e.Catalog)}, lock.Holder{PID: 77, Host: "replica-2"})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = e.run(Options{})
	var held *lock.HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "pid 77 on host replica-2") {
		t.Fatalf("err = %v", err)
	}
	if len(e.files()) != 0 {
		t.Fatalf("files %v", e.files())
	}
}

// failedRow asserts the attempt failed with msg, left no file and is recorded.
func failedRow(t *testing.T, e *env, row catalog.Execution, err error, msg string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %v, want one containing %q", err, msg)
	}
	if files := e.files(); len(files) != 0 {
		t.Fatalf("a failed backup left %v", files)
	}
	rows := e.catalogRows()
	if len(rows) != 1 || rows[0].Status != catalog.StatusFailed || rows[0].ErrorMessage == nil || !strings.Contains(*rows[0].ErrorMessage, msg) {
		t.Fatalf("catalog: %+v", rows)
	}
	if rows[0].ID != row.ID || rows[0].DurationSeconds == nil || rows[0].FileSizeBytes != nil || time.Since(rows[0].CreatedAt) > time.Minute {
		t.Fatalf("failed row incomplete or claims a file: %+v", rows[0])
	}
}

func TestFreeSpaceFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.Vars["BACKUP_MIN_FREE_SPACE_GB"] = "1000000"
	row, err := e.run(Options{})
	failedRow(t, e, row, err, "GB free < 1000000 GB required")
}

func TestServerUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.Vars["BACKUP_DATABASE_URL"] = "postgres://postgres:hunter2@127.0.0.1:1/nowhere?sslmode=disable"
	row, err := e.run(Options{})
	failedRow(t, e, row, err, "connect to the database to back up")
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatal("password in the error")
	}
}

func TestTooSmall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.Vars["BACKUP_MIN_SIZE_MB"] = "100"
	row, err := e.run(Options{})
	failedRow(t, e, row, err, "backup too small")
}

func TestEmptyDatabaseIsNoBackup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	row, err := e.run(Options{})
	failedRow(t, e, row, err, "no table data")
}

func TestPgDumpKilledMidStream(t *testing.T) {
	// Not parallel: it finds pg_dump among this process's children.
	e := newEnv(t, 20)
	e.Vars["BACKUP_COMPRESSION_FORMAT"] = "zstd" // what is compressed does not matter here; gzip-9 of it cost a CPU-second
	killed := false
	row, err := e.run(Options{ProgressEvery: time.Millisecond, Progress: func(p Progress) {
		if !killed && p.RawBytes > 0 {
			killed = killChild(t, "pg_dump")
		}
	}})
	if !killed {
		t.Fatal("pg_dump finished before it could be killed")
	}
	failedRow(t, e, row, err, "pg_dump")
	if !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("error should say pg_dump was killed: %v", err)
	}
}

// The password reaches pg_dump through its environment, never its argv
// (which every user of the host can read in ps).
func TestPasswordNeverInArgv(t *testing.T) {
	// Not parallel: it finds pg_dump among this process's children.
	e := newEnv(t, 20)
	e.Vars["BACKUP_COMPRESSION_FORMAT"] = "zstd" // what is compressed does not matter here; gzip-9 of it cost a CPU-second
	e.Vars["BACKUP_DATABASE_URL"] = strings.Replace(cluster.URL(e.Source), "postgres@", "postgres:hunter2-pw@", 1)
	var argv, environ string
	_, err := e.run(Options{ProgressEvery: time.Millisecond, Progress: func(Progress) {
		if argv == "" {
			if pid := childPID("pg_dump"); pid > 0 {
				a, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				en, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
				argv, environ = string(a), string(en)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if argv == "" {
		t.Fatal("never saw pg_dump running")
	}
	if strings.Contains(argv, "hunter2") || !strings.Contains(argv, "--dbname=postgres://postgres@127.0.0.1") {
		t.Fatalf("argv: %q", argv)
	}
	if !strings.Contains(environ, "PGPASSWORD=hunter2-pw") || strings.Contains(environ, "BACKUP_") {
		t.Fatal("pg_dump's environment should hold PGPASSWORD and none of our settings")
	}
}

// killChild SIGKILLs our child process running program.
func killChild(t *testing.T, program string) bool {
	pid := childPID(program)
	return pid > 0 && syscall.Kill(pid, syscall.SIGKILL) == nil
}

// childPID finds our child process running program (0: none).
func childPID(program string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		comm := s[strings.Index(s, "(")+1 : strings.LastIndex(s, ")")]
		fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		if comm == program && fields[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

func TestTimeoutCancelsCleanly(t *testing.T) {
	// Not parallel: it finds pg_dump among this process's children.
	e := newEnv(t, 1)
	e.Vars["BACKUP_TIMEOUT_SECONDS"] = "2"
	// A session holding an exclusive lock: pg_dump gives up waiting for it
	// before the timeout, and says why.
	ctx := context.Background()
	blocker, err := pgx.Connect(ctx, cluster.URL(e.Source))
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(ctx)
	tx, _ := blocker.Begin(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	began := time.Now()
	row, err := e.run(Options{})
	// pg_dump gives up on the lock at 80 % of the time left, or the
	// timeout kills it first on a busy machine: either way, a clean end.
	if err != nil && strings.Contains(err.Error(), "timeout after 2s") {
		failedRow(t, e, row, err, "timeout after 2s")
	} else {
		failedRow(t, e, row, err, "a table is locked by another session")
	}
	if waited := time.Since(began); waited > 20*time.Second {
		t.Fatalf("the timeout took %s to act", waited)
	}
	if killChild(t, "pg_dump") {
		t.Fatal("pg_dump survived the timeout")
	}
}

func TestShrunkDatabaseIsSuspect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	if _, err := e.run(Options{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, _ := pgx.Connect(ctx, cluster.URL(e.Source))
	if _, err := conn.Exec(ctx, "TRUNCATE radius_sessions, incidents CASCADE; DROP TABLE \"Réclamations clients\""); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	row, err := e.run(Options{Clock: clock.Shifted(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != catalog.StatusSuccess || !row.Suspect || len(row.SuspectReasons) != 2 {
		t.Fatalf("status %s suspect %v reasons %q", row.Status, row.Suspect, row.SuspectReasons)
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	row, err := e.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, counts, err := filecheck.File(ctx, dump.Tools{}, *row.FilePath, "gzip"); err != nil || counts.TableData == 0 {
		t.Fatalf("a good file fails: %v", err)
	}
	b, _ := os.ReadFile(*row.FilePath)
	b[len(b)/3] ^= 0xff
	os.WriteFile(*row.FilePath, b, 0o640)
	sums, _, err := filecheck.File(ctx, dump.Tools{}, *row.FilePath, "gzip")
	if err == nil && sums.CRC32Hex() == *row.ChecksumCRC32 {
		t.Fatal("damage unnoticed")
	}
}

func TestVerifyRejectsNonArchive(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.dump.gz")
	w, _ := archive.Create(filepath.Dir(path), "x.dump.gz", "gzip", 6)
	w.Write(bytes.Repeat([]byte("not a pg_dump archive\n"), 1000))
	w.Close()
	w.Commit()
	if _, _, err := filecheck.File(context.Background(), dump.Tools{}, path, "gzip"); err == nil || !strings.Contains(err.Error(), "table of contents") {
		t.Fatalf("err = %v", err)
	}
}

// A backup role that may not read role passwords still gets its globals,
// without passwords, and the row says so.
func TestGlobalsWithoutPasswordsForNonSuperuser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 0)
	role := "rgz_backup_" + strings.ToLower(e.Source)
	admin, err := pgx.Connect(ctx, cluster.URL(e.Source))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, sql := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"CREATE TABLE subscribers_copy AS SELECT g AS id FROM generate_series(1, 100) g",
		"ALTER TABLE subscribers_copy OWNER TO " + role,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, _ := pgx.Connect(ctx, cluster.URL("postgres"))
		defer c.Close(ctx)
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+e.Source+" WITH (FORCE)")
		c.Exec(ctx, "DROP ROLE IF EXISTS "+role)
	})
	e.Vars["BACKUP_DATABASE_URL"] = strings.Replace(cluster.URL(e.Source), "postgres@", role+"@", 1)
	row, err := e.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if row.GlobalsFilename == nil || len(row.Warnings) != 1 || !strings.Contains(row.Warnings[0], "without role passwords") {
		t.Fatalf("globals %v, warnings %q", row.GlobalsFilename, row.Warnings)
	}
}

// When the catalog refuses the row, the backup is good and self-describing:
// its files stay, and the run still fails loudly.
func TestCatalogRefusesRowKeepsGoodFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 0)
	role := "rgz_ro_" + strings.ToLower(e.Source)
	// The catalog exists (migrated by its owner); the backup role may read it, not write it.
	store, err := catalog.Open(ctx, config.Database{URL: cluster.URL(e.Catalog)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store.Close()
	for _, step := range []struct {
		db   string
		sqls []string
	}{
		{"postgres", []string{"CREATE ROLE " + role + " LOGIN"}},
		{e.Catalog, []string{"GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role,
			"GRANT INSERT, DELETE ON backup_attempts TO " + role}},
		{e.Source, []string{"CREATE TABLE invoices_copy AS SELECT g AS id FROM generate_series(1, 100) g",
			"ALTER TABLE invoices_copy OWNER TO " + role}},
	} {
		db, sqls := step.db, step.sqls
		c, err := pgx.Connect(ctx, cluster.URL(db))
		if err != nil {
			t.Fatal(err)
		}
		for _, sql := range sqls {
			if _, err := c.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		c.Close(ctx)
	}
	t.Cleanup(func() {
		c, _ := pgx.Connect(ctx, cluster.URL("postgres"))
		defer c.Close(ctx)
		for _, db := range []string{e.Source, e.Catalog} {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
		c.Exec(ctx, "DROP ROLE IF EXISTS "+role)
	})
	asRole := func(db string) string { return strings.Replace(cluster.URL(db), "postgres@", role+"@", 1) }
	e.Vars["BACKUP_DATABASE_URL"], e.Vars["BACKUP_CATALOG_DATABASE_URL"] = asRole(e.Source), asRole(e.Catalog)

	row, err := e.run(Options{})
	if !errors.Is(err, ErrUnrecorded) || !strings.Contains(err.Error(), "is written and valid, not yet recorded") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err = %v", err)
	}
	files := e.files()
	if len(files) != 4 { // dump, .sha256, .manifest.json, globals
		t.Fatalf("files %v", files)
	}
	m, err := layout.ReadManifest(*row.FilePath + ".manifest.json")
	if err != nil || m.Status != catalog.StatusSuccess || m.ID != row.ID {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	if problems := filecheck.Backup(ctx, dump.Tools{}, e.Dir, m, nil).Problems; len(problems) != 0 {
		t.Fatalf("the kept backup does not verify: %v", problems)
	}

	// The next backup that can write the catalog records the kept one from
	// its manifest, as the success it was.
	e.Vars["BACKUP_DATABASE_URL"], e.Vars["BACKUP_CATALOG_DATABASE_URL"] = cluster.URL(e.Source), cluster.URL(e.Catalog)
	if _, err := e.run(Options{}); err != nil {
		t.Fatal(err)
	}
	rows := e.catalogRows()
	if len(rows) != 2 || rows[1].ID != row.ID || rows[1].Status != catalog.StatusSuccess || *rows[1].ChecksumSHA256 != *m.ChecksumSHA256 {
		t.Fatalf("the kept backup was not recorded from its manifest: %+v", rows)
	}
	if files := e.files(); len(files) != 8 {
		t.Fatalf("files %v", files)
	}
}

// An attempt whose process died is recorded as failed by the next attempt,
// which also cleans up what it left: temporary files and sidecars removed,
// a dump without a valid manifest moved aside. Older backups stay as they were.
func TestNextAttemptRecoversAnAbandonedOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	first := e.good()
	before := e.files()

	// The traces of an attempt killed after it published its file.
	ctx := context.Background()
	store := e.store()
	dead := filepath.Join(e.Dir, "20200101_000000.dump.gz")
	gz, runID := archive.Gzip, uuid.NewString()
	abandoned := catalog.Execution{ID: uuid.NewString(), BackupType: catalog.TypePgDump, BackupDate: time.Now().UTC().Truncate(time.Second),
		Filename: filepath.Base(dead), FilePath: &dead, CompressionFormat: &gz, RestoreTestStatus: catalog.TestNotTested,
		TriggeredBy: catalog.TriggerScheduled, Attempt: 2, RunID: &runID}
	if err := store.BeginAttempt(ctx, catalog.Attempt{Execution: abandoned, StartedAt: time.Now().UTC(), Hostname: "gone", PID: 99999}); err != nil {
		t.Fatal(err)
	}
	// And a daemon's job's attempt, killed before it wrote anything:
	// River will rescue its job and run it again.
	jobStarted := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	daemonRun := uuid.NewString()
	ofJob := catalog.Execution{ID: uuid.NewString(), BackupType: catalog.TypePgDump, BackupDate: jobStarted.Truncate(time.Second),
		Filename: "20200101_000001.dump.gz", RestoreTestStatus: catalog.TestNotTested, TriggeredBy: catalog.TriggerScheduled, Attempt: 1, RunID: &daemonRun}
	if err := store.BeginAttempt(ctx, catalog.Attempt{Execution: ofJob, StartedAt: jobStarted, Hostname: "gone", PID: 99998, JobID: 41}); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{dead, dead + ".sha256", dead + ".manifest.json", filepath.Join(e.Dir, "20200101_000000.globals.sql.gz"),
		filepath.Join(e.Dir, ".tmp-20200101_000000.dump.gz-123")}
	for _, f := range leftovers {
		if err := os.WriteFile(f, []byte("partial"), 0o640); err != nil {
			t.Fatal(err)
		}
	}

	second, err := e.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range leftovers {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s survived the recovery", filepath.Base(f))
		}
	}
	// A dump without a valid manifest is not deleted (it may hold data) but
	// no longer named like a backup.
	if b, err := os.ReadFile(filepath.Join(e.Dir, layout.UnverifiedPrefix+filepath.Base(dead))); err != nil || string(b) != "partial" {
		t.Errorf("the unverified dump was not moved aside: %q, %v", b, err)
	}
	for _, f := range before {
		if _, err := os.Stat(filepath.Join(e.Dir, f)); err != nil {
			t.Errorf("the older backup lost %s", f)
		}
	}
	rows := e.catalogRows()
	byID := map[string]catalog.Execution{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	got, ok := byID[abandoned.ID]
	if len(rows) != 4 || !ok || byID[first.ID].Status != catalog.StatusSuccess || byID[second.ID].Status != catalog.StatusSuccess {
		t.Fatalf("catalog after recovery: %+v", rows)
	}
	// The CLI's attempt ended its run; the job's run goes on when River
	// rescues the job: its row says when (no alert meanwhile).
	want := jobStarted.Add(e.config().StuckJobRescue() + e.config().RetryDelays[0])
	if rescued := byID[ofJob.ID]; got.RetryAt != nil || rescued.Status != catalog.StatusFailed || rescued.RetryAt == nil || !rescued.RetryAt.Equal(want) {
		t.Fatalf("retry_at: the CLI's abandoned attempt %v, the job's %v (want %s)", got.RetryAt, rescued.RetryAt, want)
	}
	if got.Status != catalog.StatusFailed || got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "abandoned: the process running this attempt (pid 99999 on gone") ||
		got.Attempt != 2 || *got.RunID != runID || got.TriggeredBy != catalog.TriggerScheduled || got.FinishedAt == nil {
		t.Fatalf("abandoned attempt recorded as %+v (%s)", got, strOr(got.ErrorMessage, ""))
	}
	if attempts, _ := store.Attempts(ctx); len(attempts) != 0 {
		t.Fatalf("%d attempts still in progress after two finished backups", len(attempts))
	}
}

// The first good backup of each calendar month is its compliance copy, kept
// BACKUP_CRITICAL_RETENTION_DAYS; the others are daily copies.
func TestFirstBackupOfTheMonthIsTheComplianceCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	at := func(s string) clock.Clock {
		t0, _ := time.Parse(time.DateTime, s)
		return clock.At(t0)
	}
	for _, tc := range []struct{ now, class, until string }{
		{"2026-02-28 23:59:00", "compliance", "2033-02-26"},
		{"2026-03-01 03:00:00", "compliance", "2033-02-27"},
		{"2026-03-02 03:00:00", "daily", "2026-04-01"},
		{"2026-03-31 03:00:00", "daily", "2026-04-30"},
	} {
		row, err := e.run(Options{Clock: at(tc.now)})
		if err != nil {
			t.Fatal(err)
		}
		if string(row.RetentionClass) != tc.class || row.RetentionUntil.Format(time.DateOnly) != tc.until {
			t.Errorf("backup of %s: %s until %s, want %s until %s", tc.now, row.RetentionClass, row.RetentionUntil.Format(time.DateOnly), tc.class, tc.until)
		}
	}
	stored := e.catalogRows()
	if len(stored) != 4 || stored[3].RetentionClass != catalog.ClassCompliance || stored[1].RetentionClass != catalog.ClassDaily {
		t.Fatalf("catalog classes: %s %s %s %s", stored[0].RetentionClass, stored[1].RetentionClass, stored[2].RetentionClass, stored[3].RetentionClass)
	}
}

func strOr(s *string, fallback string) string {
	if s == nil {
		return fallback
	}
	return *s
}
