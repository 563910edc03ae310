package restoretest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// env is a sample database, its catalog, one backup of it.
type env struct {
	t     *testing.T
	src   string
	cfg   config.Config
	store *catalog.Store
	row   catalog.Execution
}

func newEnv(t *testing.T, vars ...string) *env {
	t.Helper()
	f := fixture.New(t, cluster, 1)
	for i := 0; i+1 < len(vars); i += 2 {
		f.Vars[vars[i]] = vars[i+1]
	}
	e := &env{t: t, src: f.Source, cfg: f.Config(t)}
	var err error
	if e.row, err = backup.Run(context.Background(), backup.Options{Config: e.cfg}); err != nil {
		t.Fatal(err)
	}
	e.store = f.Store(t)
	return e
}

func (e *env) test(o Options) (catalog.RestoreTest, error) {
	o.Config = e.cfg
	return Run(context.Background(), e.store, o)
}

// scratchDatabases lists the databases on the cluster named after the test
// rt's scratch database (other tests run beside this one).
func scratchDatabases(t *testing.T, rt catalog.RestoreTest) []string {
	if rt.ScratchDatabase == nil {
		t.Fatalf("the test record names no scratch database: %+v", rt)
	}
	conn := cluster.Conn(t, "postgres")
	rows, err := conn.Query(context.Background(), "SELECT datname FROM pg_database WHERE datname = $1", *rt.ScratchDatabase)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	return names
}

func TestGoodBackupPassesAndIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Rows deleted from the source after the backup change nothing: the
	// test compares with the counts taken in the backup's snapshot.
	cluster.Conn(t, e.src).Exec(context.Background(), "DELETE FROM incidents")
	rt, err := e.test(Options{})
	if err != nil {
		t.Fatalf("%v\n%+v", err, rt)
	}
	if rt.Status != catalog.TestSuccess || rt.BackupID != e.row.ID || len(rt.Mismatches) != 0 || rt.DurationSeconds == nil || rt.FinishedAt == nil ||
		rt.RestoreMode == nil || !strings.Contains(*rt.RestoreMode, "parallel pg_restore -j") {
		t.Fatalf("record %+v", rt)
	}
	row, _ := e.store.Get(context.Background(), e.row.ID)
	if row.RestoreTestStatus != catalog.TestSuccess || row.RestoreTestedAt == nil {
		t.Fatalf("backup row: %s %v", row.RestoreTestStatus, row.RestoreTestedAt)
	}
	history, err := e.store.RestoreTests(context.Background(), time.Now().Add(-time.Hour))
	if err != nil || len(history) != 1 || history[0].Status != catalog.TestSuccess || history[0].BackupFilename != e.row.Filename || history[0].RestoreMode == nil {
		t.Fatalf("history %+v %v", history, err)
	}
	if left := scratchDatabases(t, rt); len(left) != 0 {
		t.Fatalf("scratch databases left: %v", left)
	}
}

func TestFlippedByteFailsAtTheChecksumBeforeAnyRestore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, _ := os.ReadFile(*e.row.FilePath)
	b[len(b)/2] ^= 0x01
	os.WriteFile(*e.row.FilePath, b, 0o640)
	restored := false
	rt, err := e.test(Options{AfterRestore: func(context.Context, config.Database) error { restored = true; return nil }})
	if err == nil || !strings.Contains(err.Error(), "checksum") || rt.Status != catalog.TestFailed || restored {
		t.Fatalf("err %v, status %s, restored %v", err, rt.Status, restored)
	}
	if left := scratchDatabases(t, rt); len(left) != 0 {
		t.Fatalf("a scratch database was created: %v", left)
	}
}

// A table dropped from the restored copy is reported; --keep leaves the
// copy for a look.
func TestDroppedTableIsAMismatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var scratch config.Database
	rt, err := e.test(Options{Keep: true, AfterRestore: func(ctx context.Context, db config.Database) error {
		scratch = db
		conn, err := dbconn.Connect(ctx, db, "test")
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP TABLE incidents CASCADE")
		return err
	}})
	if err == nil || rt.Status != catalog.TestFailed || !strings.Contains(strings.Join(rt.Mismatches, "\n"), "table public.incidents is missing") {
		t.Fatalf("err %v, %+v", err, rt)
	}
	if !strings.Contains(strings.Join(rt.Mismatches, "\n"), "tables in the restored copy") {
		t.Errorf("the object counts should differ too: %v", rt.Mismatches)
	}
	left := scratchDatabases(t, rt)
	if len(left) != 1 || *rt.ScratchDatabase != left[0] {
		t.Fatalf("--keep: %v", left)
	}
	conn, err := dbconn.Connect(context.Background(), scratch, "test")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	dropScratch(context.Background(), e.cfg.RestoreTest.Target, left[0])
}

func TestTimeoutLeavesNoScratchDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.RestoreTest.Timeout = 1
	rt, err := e.test(Options{AfterRestore: func(ctx context.Context, _ config.Database) error {
		<-ctx.Done() // a restore that takes longer than the timeout
		return ctx.Err()
	}})
	if err == nil || !strings.Contains(err.Error(), "timeout after 1s") || rt.Status != catalog.TestFailed {
		t.Fatalf("err %v, %+v", err, rt)
	}
	if left := scratchDatabases(t, rt); len(left) != 0 {
		t.Fatalf("scratch databases left after a timeout: %v", left)
	}
}

// Without room to decompress, the archive streams into a single-job
// pg_restore, and the test says so.
func TestStreamedRestoreWhenNoRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noRoom := func(string) (uint64, error) { return 100 << 20, nil } // 100 MiB free
	rt, err := e.test(Options{FreeBytes: noRoom})
	if err != nil || rt.Status != catalog.TestSuccess || rt.RestoreMode == nil || !strings.Contains(*rt.RestoreMode, "streamed into a single-job pg_restore") {
		t.Fatalf("%v %+v", err, rt)
	}
}

// A scratch name that exists is refused, and only rgz names are touched.
func TestScratchRefusesAnExistingDatabase(t *testing.T) {
	t.Parallel()
	target := config.Database{URL: cluster.URL("postgres")}
	name := ScratchName(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), "00000000")
	own, err := claim(context.Background(), target, name, nil) // owned: no other test's sweep takes it
	if err != nil {
		t.Fatal(err)
	}
	defer own.release(context.Background())
	if err := cluster.CreateDatabase(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	defer cluster.DropDatabase(context.Background(), name)
	if err := createScratch(context.Background(), target, name); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("existing scratch name: %v", err)
	}
	if err := dropScratch(context.Background(), target, "rgz_production"); err == nil {
		t.Fatal("dropScratch would drop a database that is not a scratch one")
	}
}

// An encrypted backup's restore test needs an identity of one of its
// recipients: with none, or another's, it fails saying so and creates no
// scratch database; with one, in either restore mode, it passes.
func TestEncryptedBackupNeedsItsIdentity(t *testing.T) {
	t.Parallel()
	rcpt, identity := fixture.AgeKey(t)
	_, stranger := fixture.AgeKey(t)
	e := newEnv(t, "BACKUP_ENCRYPTION_RECIPIENTS", rcpt)
	if !e.row.Encrypted {
		t.Fatal("the backup is not encrypted")
	}
	for _, c := range []struct{ identity, want string }{
		{"", "is encrypted: set BACKUP_ENCRYPTION_IDENTITY_FILE"},
		{stranger, "matches none of its recipients"},
	} {
		e.cfg.Encryption.IdentityFile = c.identity
		rt, err := e.test(Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) || rt.Status != catalog.TestFailed || !strings.Contains(err.Error(), rcpt) {
			t.Fatalf("identity %q: %v (%s)", c.identity, err, rt.Status)
		}
		if left := scratchDatabases(t, rt); len(left) != 0 {
			t.Fatalf("identity %q: a scratch database was created: %v", c.identity, left)
		}
	}
	e.cfg.Encryption.IdentityFile = identity
	if rt, err := e.test(Options{}); err != nil || rt.Status != catalog.TestSuccess {
		t.Fatalf("with the identity: %v %+v", err, rt)
	}
	noRoom := func(string) (uint64, error) { return 0, nil }
	if rt, err := e.test(Options{FreeBytes: noRoom}); err != nil || rt.Status != catalog.TestSuccess || !strings.Contains(*rt.RestoreMode, "streamed") {
		t.Fatalf("streamed, with the identity: %v %+v", err, rt)
	}
	// A flipped bit in the ciphertext: a checksum mismatch, in either
	// mode, before any decryption or restore.
	b, _ := os.ReadFile(*e.row.FilePath)
	b[len(b)/3] ^= 1
	os.WriteFile(*e.row.FilePath, b, 0o640)
	for _, o := range []Options{{}, {FreeBytes: noRoom}} {
		restored := false
		o.AfterRestore = func(context.Context, config.Database) error { restored = true; return nil }
		rt, err := e.test(o)
		if err == nil || !strings.Contains(err.Error(), "checksum") || restored || rt.Status != catalog.TestFailed {
			t.Fatalf("a flipped bit: %v, restored %v", err, restored)
		}
	}
}
