package records

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// world is real backups in a real directory and catalog: two good ones
// (one later deleted by retention) and a failed attempt.
type world struct {
	store             *catalog.Store
	dir               string
	newer, older, bad catalog.Execution
}

func newWorld(t *testing.T) world {
	t.Helper()
	f := fixture.New(t, cluster, 1)
	w := world{dir: f.Dir}
	run := func() (catalog.Execution, error) {
		return backup.Run(context.Background(), backup.Options{Config: f.Config(t)})
	}
	var err error
	if w.older, err = run(); err != nil {
		t.Fatal(err)
	}
	if w.newer, err = run(); err != nil {
		t.Fatal(err)
	}
	f.Vars["BACKUP_MIN_FREE_SPACE_GB"] = "1000000"
	if w.bad, err = run(); err == nil {
		t.Fatal("the failing attempt succeeded")
	}
	w.store = f.Store(t)
	return w
}

// Every Reader passes the same contract over the same backups.
func TestReadersConform(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for _, r := range []Reader{Catalog{Store: w.store}, Manifests{Dir: w.dir}} {
		t.Run(r.String(), func(t *testing.T) {
			for _, want := range []catalog.Execution{w.newer, w.older} {
				got, err := r.Named(ctx, want.Filename)
				if err != nil || got.ID != want.ID || got.Status != catalog.StatusSuccess || *got.ChecksumSHA256 != *want.ChecksumSHA256 {
					t.Fatalf("Named(%s) = %s %s, %v", want.Filename, got.ID, got.Status, err)
				}
				if got, err := r.Named(ctx, "/some/where/"+want.Filename); err != nil || got.ID != want.ID {
					t.Fatalf("a path is reduced to its name: %v", err)
				}
				if got, err := r.Named(ctx, want.ID); err != nil || got.Filename != want.Filename {
					t.Fatalf("Named(its id %s) = %s, %v", want.ID, got.Filename, err)
				}
			}
			if _, err := r.Named(ctx, "20000101_000000.dump.gz"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown name: %v, want ErrNotFound", err)
			}
			if got, err := r.Named(ctx, w.bad.Filename); err == nil && got.Status.Good() {
				t.Fatalf("a failed attempt's name answered with a good record: %+v", got)
			}
			rows, err := r.OnDisk(ctx)
			if err != nil || len(rows) != 2 || rows[0].ID != w.newer.ID || rows[1].ID != w.older.ID {
				t.Fatalf("OnDisk: %d rows, %v", len(rows), err)
			}
		})
	}
}

// Find asks the catalog first, then the manifests: a backup the catalog
// does not know (a fresh catalog on a new server) is found by its files.
func TestFindFallsBackToTheFiles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	fresh, err := catalog.Open(ctx, config.Database{URL: cluster.URL(cluster.NewDatabase(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	readers := []Reader{Catalog{Store: fresh}, Manifests{Dir: w.dir}}
	row, from, err := Find(ctx, readers, w.newer.Filename)
	if err != nil || row.ID != w.newer.ID || from.String() != (Manifests{Dir: w.dir}).String() {
		t.Fatalf("Find: %v from %v, %v", row.ID, from, err)
	}
	if _, _, err := Find(ctx, readers, "20000101_000000.dump.gz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("nowhere: %v", err)
	}
	rows, from, err := FirstOnDisk(ctx, []Reader{Manifests{Dir: t.TempDir() + "/missing"}, Catalog{Store: w.store}})
	if err != nil || len(rows) != 2 || from.String() != "the catalog" {
		t.Fatalf("FirstOnDisk: %d from %v, %v", len(rows), from, err)
	}
}
