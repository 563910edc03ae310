package records

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
)

// A manifest in a destination is anyone's who can write there: catalog
// rebuild takes one only beside its dump's key, in its database's folder
// and month, and then records the backup where the tool keeps it below
// BACKUP_LOCAL_DIR, whatever file_path the manifest gives. Planted ones
// (another database's folder, a name that is a path, a file_path
// elsewhere, garbage) are refused and listed, and nothing is recorded for
// them.
func TestRebuildRefusesPlantedManifests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fixture.New(t, cluster, 1)
	nas := t.TempDir()
	f.Vars["BACKUP_DESTINATIONS"] = "file://" + nas
	good, err := backup.Run(ctx, backup.Options{Config: f.Config(t)})
	if err != nil {
		t.Fatal(err)
	}
	plant := func(key string, row catalog.Execution) {
		p := filepath.Join(nas, filepath.FromSlash(key))
		os.MkdirAll(filepath.Dir(p), 0o750)
		b, _ := json.Marshal(layout.Manifest{ManifestVersion: 1, Execution: row})
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	month := good.BackupDate.UTC().Format("2006/01")
	next := good.BackupDate.Add(time.Second)
	nextName := next.UTC().Format("20060102_150405") + ".dump.gz"
	elsewhere := "/etc/" + nextName
	for i, c := range []struct {
		key  string
		edit func(*catalog.Execution)
	}{
		{"default/other/" + month + "/" + good.Filename + layout.ManifestSuffix, func(r *catalog.Execution) {}}, // another folder
		{month + "/x" + layout.ManifestSuffix, func(r *catalog.Execution) { r.Filename = "../../x" }},           // a path as a name
		{month + "/20990101_000000.dump.gz" + layout.ManifestSuffix, func(r *catalog.Execution) {}},             // a name not its date
		{"2001/01/" + good.Filename + layout.ManifestSuffix, func(r *catalog.Execution) {}},                     // the wrong month
		// Where the tool would have put it, but its file_path elsewhere:
		// taken, recorded where the tool keeps it (not on disk: deleted).
		{month + "/" + nextName + layout.ManifestSuffix, func(r *catalog.Execution) { r.BackupDate, r.FilePath = next, &elsewhere }},
	} {
		row := good
		row.ID = fmt.Sprintf("0000000%d%s", i, good.ID[8:])
		row.Filename = path.Base(strings.TrimSuffix(c.key, layout.ManifestSuffix))
		c.edit(&row)
		plant(c.key, row)
	}
	if err := os.WriteFile(filepath.Join(nas, month, "20260101_000000.dump.gz"+layout.ManifestSuffix), []byte("{not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	// A new catalog, then rebuild.
	f.Vars["BACKUP_CATALOG_DATABASE_URL"] = cluster.URL(cluster.NewDatabase(t))
	cfg := f.Config(t)
	_, store := fixture.OpenCatalog(t, cfg.Catalog)
	res, err := Rebuild(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Refused) != 5 {
		t.Fatalf("refused %d, want the 5 planted: %q", len(res.Refused), res.Refused)
	}
	rows, err := store.List(ctx, catalog.Filter{})
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows after rebuild: %+v, %v", rows, err)
	}
	for _, r := range rows {
		switch r.Filename {
		case good.Filename:
			if r.ID != good.ID || *r.FilePath != *good.FilePath || r.DeletedAt != nil {
				t.Fatalf("the real backup: %+v", r)
			}
		case nextName:
			if *r.FilePath != filepath.Join(f.Dir, nextName) || r.DeletedAt == nil {
				t.Fatalf("a manifest's file_path was trusted: %s, deleted %v", *r.FilePath, r.DeletedAt)
			}
		default:
			t.Fatalf("recorded %s", r.Filename)
		}
	}
}

// After a disaster the files come back in another directory: rebuild
// records each backup where its manifest is now (its manifest's old
// file_path is not trusted), and a bad manifest beside them is listed as
// refused without hiding the others.
func TestRebuildOfFilesBroughtElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fixture.New(t, cluster, 1)
	good, err := backup.Run(ctx, backup.Options{Config: f.Config(t)})
	if err != nil {
		t.Fatal(err)
	}
	moved := t.TempDir()
	names, _ := layout.NamesOf(good)
	for _, n := range names.All() {
		if b, err := os.ReadFile(filepath.Join(f.Dir, n)); err == nil {
			os.WriteFile(filepath.Join(moved, n), b, 0o640)
		}
	}
	os.WriteFile(filepath.Join(moved, "20260101_000000.dump.gz"+layout.ManifestSuffix), []byte("{garbage"), 0o640)
	f.Vars["BACKUP_LOCAL_DIR"] = moved
	f.Vars["BACKUP_CATALOG_DATABASE_URL"] = cluster.URL(cluster.NewDatabase(t))
	cfg := f.Config(t)
	_, store := fixture.OpenCatalog(t, cfg.Catalog)
	res, err := Rebuild(ctx, store, cfg)
	if err != nil || len(res.Added) != 1 || len(res.Refused) != 1 {
		t.Fatalf("rebuild: %+v, %v", res, err)
	}
	row, err := store.Get(ctx, good.ID)
	if err != nil || row.FilePath == nil || *row.FilePath != filepath.Join(moved, good.Filename) {
		t.Fatalf("recorded at %v, want in %s (%v)", row.FilePath, moved, err)
	}
}
