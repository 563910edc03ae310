package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

func TestFileLockExcludesAndNamesHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	release, err := File(dir, Me())
	if err != nil {
		t.Fatal(err)
	}
	_, err = File(dir, Me()) // a second open file description: flock refuses it, even in one process
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(held.Holder, "pid ") || !strings.Contains(held.Holder, " since ") {
		t.Fatalf("second lock: %v", err)
	}
	release()
	again, err := File(dir, Me())
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

// A holder killed with SIGKILL must not leave a stale lock.
func TestFileLockDiesWithHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := exec.LookPath("flock"); err != nil {
		t.Fatal("flock(1) from util-linux is needed by this test:", err)
	}
	holder := exec.Command("flock", "--no-fork", "--exclusive", dir+"/"+FileName, "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the child holds it.
	for i := 0; ; i++ {
		release, err := File(dir, Me())
		if err != nil {
			break
		}
		release()
		if i == 500 {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	holder.Process.Kill()
	holder.Wait()
	release, err := File(dir, Me())
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	release()
}

func TestAdvisoryLockAcrossSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	release, err := Advisory(ctx, db, Me())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Advisory(ctx, db, Holder{PID: 1, Host: "other"})
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(held.Holder, "rgz-backup lock pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second advisory lock: %v", err)
	}
	release()
	again, err := Advisory(ctx, db, Me())
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}

// Two services whose catalogs share a server do not see each other's lock.
func TestAdvisoryLockIsPerCatalogDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mine := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	theirs := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	release, err := Advisory(ctx, theirs, Holder{PID: 1, Host: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if holder, held, err := HeldBy(ctx, mine); err != nil || held {
		t.Fatalf("another catalog's lock seen as ours: %q %v %v", holder, held, err)
	}
	if _, held, err := HeldBy(ctx, theirs); err != nil || !held {
		t.Fatalf("their own lock not seen: %v %v", held, err)
	}
	again, err := Advisory(ctx, mine, Me())
	if err != nil {
		t.Fatalf("our lock while another catalog's is held: %v", err)
	}
	again()
}

// A holder whose session dies (crash, network cut) leaves no stale lock.
func TestAdvisoryLockDiesWithSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	// Never released; kept reachable until its session is killed, since a
	// connection the garbage collector finalizes closes, and its lock with it.
	held, err := Advisory(ctx, db, Holder{PID: 1, Host: "crashed"})
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(held)
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed bool
	err = admin.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1 AND objid = $2
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, advisoryNamespace, advisoryBackup).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("terminate holder: %v %v", killed, err)
	}
	for i := 0; ; i++ {
		release, err := Advisory(ctx, db, Me())
		if err == nil {
			release()
			return
		}
		if i == 100 {
			t.Fatalf("lock still held after its session died: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A file open for reading, in this process or another, is not deleted.
func TestReaderKeepsFileFromDeletion(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/20260205_030000.dump.gz"
	os.WriteFile(path, []byte("backup"), 0o640)
	f, err := OpenForReading(path)
	if err != nil {
		t.Fatal(err)
	}
	if !BeingRead(path) {
		t.Fatal("BeingRead is false while the file is open for reading")
	}
	if err := RemoveUnlessRead(path); !errors.Is(err, ErrBeingRead) {
		t.Fatalf("remove while read: %v", err)
	}
	f.Close()

	reader := exec.Command("flock", "--no-fork", "--shared", path, "sleep", "60")
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; !BeingRead(path); i++ {
		if i > 200 {
			t.Fatal("flock(1) never took the shared lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := RemoveUnlessRead(path); !errors.Is(err, ErrBeingRead) {
		t.Fatalf("remove while another process reads: %v", err)
	}
	reader.Process.Kill()
	reader.Wait()
	if err := RemoveUnlessRead(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("not removed once the reader left: %v", err)
	}
	if err := RemoveUnlessRead(path); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
}

// With several databases: one backup per database, the per-server and
// global limits across sessions, and the service's lock alone (retention,
// recovery) refused while any backup runs.
func TestSlotsLimitBackupsAcrossSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	take := func(target, database string) (func(), error) {
		return Take(ctx, db, Holder{PID: 1, Host: "replica"}, ForDatabase(target, database, 1, 2))
	}
	first, err := take("a", "rgz")
	if err != nil {
		t.Fatal(err)
	}
	var held *HeldError
	if _, err := take("a", "rgz"); !errors.As(err, &held) {
		t.Fatalf("the same database twice: %v", err)
	}
	var busy *BusyError
	if _, err := take("a", "billing"); !errors.As(err, &busy) || !strings.Contains(err.Error(), "server a") {
		t.Fatalf("a second database on a server limited to one: %v", err)
	}
	other, err := take("b", "rgz")
	if err != nil {
		t.Fatalf("another server's database: %v", err)
	}
	if _, err := take("c", "rgz"); !errors.As(err, &busy) || !strings.Contains(err.Error(), "the service") {
		t.Fatalf("a third backup under a global limit of two: %v", err)
	}
	if _, err := Advisory(ctx, db, Me()); !errors.As(err, &held) {
		t.Fatalf("the service's lock alone while backups run: %v", err)
	}
	// Waiting: the slot frees while the next backup waits for it.
	go func() { time.Sleep(300 * time.Millisecond); first() }()
	next, err := Wait(ctx, db, Me(), ForDatabase("a", "billing", 1, 2), 10*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("waiting for a free slot: %v", err)
	}
	next()
	other()
	alone, err := Advisory(ctx, db, Me())
	if err != nil {
		t.Fatalf("the service's lock once every backup is over: %v", err)
	}
	alone()
}

// Running tells each attempt's backup apart: with several databases, one
// database's backup running says nothing of another's (a dead attempt
// beside a live one shows dead), nor does retention holding the service's
// lock alone; today's one backup holds the service's lock alone.
func TestRunningIsPerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	live, dead := [2]string{"site-a", "radius"}, [2]string{"site-a", "billing"}
	running := func(several bool) map[[2]string]bool {
		t.Helper()
		r, err := Running(ctx, db, several, [][2]string{live, dead})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := running(true); r[live] || r[dead] {
		t.Fatalf("no lock held: %v", r)
	}
	release, err := Take(ctx, db, Me(), ForDatabase(live[0], live[1], 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	if r := running(true); !r[live] || r[dead] {
		t.Fatalf("one database's backup running: %v", r)
	}
	release()
	alone, err := Advisory(ctx, db, Me())
	if err != nil {
		t.Fatal(err)
	}
	defer alone()
	if r := running(true); r[live] || r[dead] {
		t.Fatalf("retention or recovery holding the service's lock, with several databases: %v", r)
	}
	if r := running(false); !r[live] || !r[dead] {
		t.Fatalf("the one backup of today's configuration running: %v", r)
	}
}
