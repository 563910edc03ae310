// Package records reads what is known about backups from either place
// that holds it: the catalog database, or the manifests written beside the
// backup files (the catalog may be unreachable, lost with the database it
// lived in, or fresh on a new server and know nothing). One small
// interface, two implementations that pass one conformance test, and one
// rule for which answers: Find asks each in turn.
package records

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// ErrNotFound means a reader knows no backup by that name.
var ErrNotFound = catalog.ErrNotFound

// Reader reads backup records.
type Reader interface {
	// Named returns the record of the backup file name (a path is reduced
	// to its name), or of the backup whose id name is: its good owner;
	// ErrNotFound when the reader knows none.
	// The catalog may also answer with a failed attempt of that name when
	// no good row has it, so that the caller can say "this attempt failed".
	Named(ctx context.Context, name string) (catalog.Execution, error)
	// OnDisk lists the good backups whose local files retention has not
	// deleted, newest first.
	OnDisk(ctx context.Context) ([]catalog.Execution, error)
	// String names the source, for messages.
	String() string
}

// Catalog reads the catalog database; it never writes.
type Catalog struct{ Store *catalog.Store }

func (c Catalog) Named(ctx context.Context, name string) (catalog.Execution, error) {
	if uuid.Validate(name) == nil {
		return c.Store.Get(ctx, name)
	}
	return c.Store.ByFilename(ctx, filepath.Base(name))
}

func (c Catalog) OnDisk(ctx context.Context) ([]catalog.Execution, error) {
	return c.Store.List(ctx, catalog.Filter{OnDisk: true})
}

func (Catalog) String() string { return "the catalog" }

// Manifests reads the .manifest.json files in a backup directory. A
// manifest is written only for a backup that passed validation, so every
// record it gives is a good one.
type Manifests struct{ Dir string }

func (m Manifests) Named(_ context.Context, name string) (catalog.Execution, error) {
	if uuid.Validate(name) == nil {
		rows, _, err := layout.Manifests(m.Dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return catalog.Execution{}, err
		}
		for _, r := range rows {
			if r.ID == name {
				return r, nil
			}
		}
		return catalog.Execution{}, ErrNotFound
	}
	manifest := filepath.Base(name) + layout.ManifestSuffix
	row, err := layout.ReadManifest(filepath.Join(m.Dir, manifest))
	if errors.Is(err, os.ErrNotExist) {
		return row, ErrNotFound
	}
	if err == nil {
		err = layout.CheckManifest(row, manifest)
	}
	return row, err
}

func (m Manifests) OnDisk(context.Context) ([]catalog.Execution, error) {
	if _, err := os.Stat(m.Dir); err != nil {
		return nil, err // no directory: this reader cannot say
	}
	rows, _, err := layout.Manifests(m.Dir) // a refused manifest is no backup here
	if err != nil {
		return nil, err
	}
	var out []catalog.Execution
	for _, r := range rows {
		files, err := layout.In(r, m.Dir)
		if err != nil {
			continue
		}
		if _, err := os.Stat(files.Dump); err == nil && r.Status.Good() {
			r.DeletedAt = nil
			out = append(out, r)
		}
	}
	return out, nil
}

func (m Manifests) String() string { return "the manifests in " + m.Dir }

// EveryManifest reads the manifests of BACKUP_LOCAL_DIR and of every
// database's directory below it (TARGET/DATABASE, several databases):
// what the catalog would say, when it cannot be reached.
type EveryManifest struct{ Root string }

func (m EveryManifest) dirs() []Manifests {
	dirs, err := BackupDirs(m.Root)
	if err != nil {
		dirs = []string{m.Root}
	}
	out := make([]Manifests, len(dirs))
	for i, d := range dirs {
		out[i] = Manifests{Dir: d}
	}
	return out
}

// Named finds name's manifest; the backup is where its manifest is (the
// files may have been brought to another directory or host).
func (m EveryManifest) Named(ctx context.Context, name string) (catalog.Execution, error) {
	for _, d := range m.dirs() {
		row, err := d.Named(ctx, name)
		if !errors.Is(err, ErrNotFound) {
			return here(row, d.Dir), err
		}
	}
	return catalog.Execution{}, ErrNotFound
}

// here is row with its file in dir, when it is there.
func here(row catalog.Execution, dir string) catalog.Execution {
	if files, err := layout.In(row, dir); err == nil {
		if _, err := os.Stat(files.Dump); err == nil {
			row.FilePath = &files.Dump
		}
	}
	return row
}

func (m EveryManifest) OnDisk(ctx context.Context) ([]catalog.Execution, error) {
	var out []catalog.Execution
	for i, d := range m.dirs() {
		rows, err := d.OnDisk(ctx)
		if err != nil && i == 0 {
			return nil, err // no backup directory: this reader cannot say
		}
		for _, r := range rows {
			out = append(out, here(r, d.Dir))
		}
	}
	return out, nil
}

func (m EveryManifest) String() string { return "the manifests in " + m.Root + " and below" }

// Find asks each reader in turn for name and returns the first record
// found, with the reader that answered. The name may be a backup's file
// name, its stem (20260205_030015) or its name without .age
// (layout.Candidates), or its id. A reader that fails (the catalog
// unreachable, or without its tables) counts as not knowing; when none
// knows the name, the error says what each answered.
func Find(ctx context.Context, readers []Reader, name string) (catalog.Execution, Reader, error) {
	names := layout.Candidates(filepath.Base(name))
	if len(names) == 0 {
		names = []string{name} // an id
	}
	var why []error
	for _, r := range readers {
		var err error
		for _, n := range names {
			var row catalog.Execution
			if row, err = r.Named(ctx, n); err == nil {
				return row, r, nil
			}
			if !errors.Is(err, ErrNotFound) {
				break
			}
		}
		why = append(why, fmt.Errorf("%s: %w", r, err))
	}
	return catalog.Execution{}, nil, fmt.Errorf("no backup named %q: %w", filepath.Base(name), oneLine(why))
}

// FirstOnDisk lists the backups on disk from the first reader that can.
func FirstOnDisk(ctx context.Context, readers []Reader) ([]catalog.Execution, Reader, error) {
	var why []error
	for _, r := range readers {
		rows, err := r.OnDisk(ctx)
		if err == nil {
			return rows, r, nil
		}
		why = append(why, fmt.Errorf("%s: %w", r, err))
	}
	return nil, nil, oneLine(why)
}

// oneLine joins errors on one line ("a; b"), each still found by errors.Is.
func oneLine(errs []error) error {
	if len(errs) == 0 {
		return errors.New("no reader")
	}
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), args...)
}

// The one rule for which records a caller reads:
//
//   - a caller whose work refers to the catalog's rows (a restore test's
//     record, `show`) reads the catalog alone, or the manifests alone when
//     there is no catalog (For with alsoManifests false);
//   - a caller that must find a backup whatever the catalog knows (restore,
//     verify on the worst day) reads the catalog, then the manifests
//     (For with alsoManifests true, or Open).

// For are the readers to ask, in order: the catalog when store is set,
// else the manifests below root; with alsoManifests, the manifests after
// the catalog too.
func For(store *catalog.Store, root string, alsoManifests bool) []Reader {
	files := EveryManifest{Root: root}
	switch {
	case store == nil:
		return []Reader{files}
	case alsoManifests:
		return []Reader{Catalog{Store: store}, files}
	default:
		return []Reader{Catalog{Store: store}}
	}
}

// Opened are the readers Open gives: Unreachable says why the catalog is
// not among them; Close ends what Open opened.
type Opened struct {
	Readers     []Reader
	Unreachable error
	Close       func()
}

// Open opens the catalog to read (never migrating: reading writes
// nothing) and gives For(store, root, true); a catalog that cannot be
// reached leaves the manifests alone.
func Open(ctx context.Context, db config.Database, root, session string) Opened {
	pool, err := catalog.OpenPool(ctx, db, session, 2)
	if err != nil {
		return Opened{Readers: For(nil, root, true), Unreachable: err, Close: func() {}}
	}
	store := catalog.NewStore(pool)
	return Opened{Readers: For(store, root, true), Close: store.Close}
}
