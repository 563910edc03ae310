package destination_test

import (
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/destination/destinationtest"
)

// leftoverFile writes, below the local directory root, what a Put of name
// killed two hours ago leaves: its temporary file, half written.
func leftoverFile(t *testing.T, root, name string) {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(path.Dir(name)))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".tmp-"+path.Base(name)+"-killed")
	if err := os.WriteFile(tmp, []byte("PGDMP half a copy"), 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
}

// leftoverThere says whether such a file is still below root.
func leftoverThere(t *testing.T, root, name string) bool {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(path.Dir(name)), ".tmp-"+path.Base(name)+"-*"))
	return len(m) > 0
}

func TestDirConforms(t *testing.T) {
	t.Parallel()
	destinationtest.Run(t, destinationtest.Harness{
		New: func(t *testing.T) destination.Store {
			return destination.Dir{Root: filepath.Join(t.TempDir(), "nas", "rgz")}
		},
		Reopen: func(_ *testing.T, st destination.Store) destination.Store {
			return destination.Dir{Root: st.(destination.Dir).Root}
		},
		Leftover: func(t *testing.T, st destination.Store, name string) {
			leftoverFile(t, st.(destination.Dir).Root, name)
		},
		Left: func(t *testing.T, st destination.Store, name string) bool {
			return leftoverThere(t, st.(destination.Dir).Root, name)
		},
	})
}
