package restoretest

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
)

// Sweep drops a scratch database only when no live test owns it: not one
// whose owner session lives (whatever database it or the sweeper is in),
// not one kept with --keep, never one without the prefix. A test recorded as
// running whose owner is gone is recorded as failed; one still owned, or
// queued without a scratch database, is left running.
func TestSweepDropsOnlyOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	target := e.cfg.RestoreTest.Target
	elsewhere := config.Database{URL: cluster.URL(cluster.NewDatabase(t))} // another service's restore-test database
	at := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	name := func(label string) string { return ScratchName(at, uuid.NewString()) + "_" + label }
	orphan, locked, attended, kept, other := name("orphan"), name("locked"), name("attended"), name("kept"), "rgz_restore_tesX_"+uuid.NewString()[:8]
	inUse := name("inuse") // its owner session lost, but pg_restore still in it

	for _, db := range []string{orphan, other} {
		create(t, db)
	}
	// In use: owned while it is created and entered (a sweep of another
	// test of this package, on the same server, would otherwise find it
	// unowned and empty in between), then its owner gone.
	inUseOwner, err := claim(ctx, target, inUse, nil)
	if err != nil {
		t.Fatal(err)
	}
	create(t, inUse)
	if _, err := pgxConnect(t, target.WithDatabase(inUse)); err != nil {
		t.Fatal(err)
	}
	inUseOwner.release(ctx)
	lockOwner, err := claim(ctx, target, locked, nil) // owned, then created
	if err != nil {
		t.Fatal(err)
	}
	defer lockOwner.release(ctx)
	create(t, locked)
	if _, err := claim(ctx, target, locked, nil); err == nil {
		t.Fatal("a scratch database owned twice")
	}
	attendOwner, err := claim(ctx, elsewhere, attended, nil) // owned from another database
	if err != nil {
		t.Fatal(err)
	}
	defer attendOwner.release(ctx)
	create(t, attended)
	keeper, err := claim(ctx, target, kept, nil) // as a test does: owned, then created
	if err != nil {
		t.Fatal(err)
	}
	create(t, kept)
	if err := keeper.keep(ctx, kept); err != nil {
		t.Fatal(err)
	}
	keeper.release(ctx)

	// Two tests recorded as running: one whose scratch database's owner
	// died (orphan's), one still owned (locked's); and one queued.
	here, there := ServerOf(target), "elsewhere:5432"
	dead := catalog.RestoreTest{ID: uuid.NewString(), BackupID: e.row.ID, StartedAt: at, Status: catalog.TestRunning, TriggeredBy: catalog.TriggerManual, ScratchDatabase: &orphan, ScratchServer: &here}
	live := dead
	live.ID, live.ScratchDatabase = uuid.NewString(), &locked
	queued := dead
	queued.ID, queued.ScratchDatabase = uuid.NewString(), nil
	// A test on another restore-test server: this server cannot judge it.
	remote := dead
	remote.ID, remote.ScratchServer = uuid.NewString(), &there
	for _, rt := range []catalog.RestoreTest{dead, live, queued, remote} {
		if err := e.store.BeginRestoreTest(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}

	swept, err := Sweep(ctx, e.store, target, at.Add(time.Hour), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(swept.Abandoned, []string{dead.ID}) { // the orphan may have gone in another test's sweep
		t.Fatalf("swept %+v", swept)
	}
	left := databases(t)
	for db, want := range map[string]bool{orphan: false, locked: true, attended: true, kept: true, other: true, inUse: true} {
		if left[db] != want {
			t.Errorf("%s: there %v, want %v", db, left[db], want)
		}
	}
	for _, rt := range []catalog.RestoreTest{dead, live, queued, remote} {
		got, err := e.store.RestoreTest(ctx, rt.ID)
		want := catalog.TestRunning
		if rt.ID == dead.ID {
			want = catalog.TestFailed
		}
		if err != nil || got.Status != want {
			t.Errorf("test %s: %s, want %s (%v)", rt.ID, got.Status, want, err)
		}
	}
	if row, _ := e.store.Get(ctx, e.row.ID); row.RestoreTestStatus == catalog.TestFailed {
		t.Error("an abandoned test marked its backup's restore test failed")
	}
	for _, db := range []string{locked, attended, kept, other, inUse} {
		cluster.DropDatabase(ctx, db)
	}
}

// The owner session comes back when it is lost (an idle timeout, a
// dropped connection), so that a long test keeps its scratch database.
func TestOwnerSessionComesBack(t *testing.T) {
	keepAlive = 100 * time.Millisecond // not parallel: the only test that moves it
	defer func() { keepAlive = 30 * time.Second }()
	ctx := context.Background()
	target := config.Database{URL: cluster.URL("postgres")}
	name := ScratchName(time.Now(), uuid.NewString())
	own, err := claim(ctx, target, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer own.release(ctx)
	conn := cluster.Conn(t, "postgres")
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", ownerApp(name)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", ownerApp(name)).Scan(&n)
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner session did not come back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pgxConnect(t *testing.T, db config.Database) (*pgx.Conn, error) {
	conn, err := pgx.Connect(context.Background(), db.URL)
	if err == nil {
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	return conn, err
}

func create(t *testing.T, db string) {
	t.Helper()
	if err := cluster.CreateDatabase(context.Background(), db); err != nil {
		t.Fatal(err)
	}
}

func databases(t *testing.T) map[string]bool {
	t.Helper()
	rows, err := cluster.Conn(t, "postgres").Query(context.Background(), "SELECT datname FROM pg_database")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}
