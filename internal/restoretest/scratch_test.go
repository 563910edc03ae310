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

	for _, db := range []string{orphan, other} {
		create(t, db)
	}
	lockOwner, err := claim(ctx, target, locked) // owned, then created
	if err != nil {
		t.Fatal(err)
	}
	defer lockOwner.release(ctx)
	create(t, locked)
	if _, err := claim(ctx, target, locked); err == nil {
		t.Fatal("a scratch database owned twice")
	}
	attendOwner, err := claim(ctx, elsewhere, attended) // owned from another database
	if err != nil {
		t.Fatal(err)
	}
	defer attendOwner.release(ctx)
	create(t, attended)
	keeper, err := claim(ctx, target, kept) // as a test does: owned, then created
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
	dead := catalog.RestoreTest{ID: uuid.NewString(), BackupID: e.row.ID, StartedAt: at, Status: catalog.TestRunning, TriggeredBy: catalog.TriggerManual, ScratchDatabase: &orphan}
	live := dead
	live.ID, live.ScratchDatabase = uuid.NewString(), &locked
	queued := dead
	queued.ID, queued.ScratchDatabase = uuid.NewString(), nil
	for _, rt := range []catalog.RestoreTest{dead, live, queued} {
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
	for db, want := range map[string]bool{orphan: false, locked: true, attended: true, kept: true, other: true} {
		if left[db] != want {
			t.Errorf("%s: there %v, want %v", db, left[db], want)
		}
	}
	for _, rt := range []catalog.RestoreTest{dead, live, queued} {
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
	for _, db := range []string{locked, attended, kept, other} {
		cluster.DropDatabase(ctx, db)
	}
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
