package sealed

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/destination"
)

// A stored file is copied to every place; read back, a place whose copy
// does not match the recorded SHA-256 is passed over for the next; a key
// no place holds is ErrNotFound, and a bad copy everywhere is an error
// that is not.
func TestWriteCopyFetch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	form := Form{Format: archive.Zstd, Level: 3}
	content := bytes.Repeat([]byte("wal record "), 10000)
	f, err := form.Write(t.TempDir(), "seg.zst", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	first, second := destination.Dir{Root: t.TempDir()}, destination.Dir{Root: t.TempDir()}
	stores := []destination.Store{first, second}
	copies, err := CopyEverywhere(ctx, stores, f, "pitr/1/wal/seg.zst", "seg")
	if err != nil || len(copies) != 2 {
		t.Fatalf("%v %v", copies, err)
	}
	// The first place's copy goes bad.
	if err := os.WriteFile(filepath.Join(first.Root, "pitr/1/wal/seg.zst"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	sink := func() (io.Writer, error) { got.Reset(); return &got, nil }
	err = Fetch(ctx, stores, "pitr/1/wal/seg.zst", archive.Zstd, nil, Expect{StoredSHA256: f.Sums.SHA256Hex(), RawSHA256: f.RawSHA256}, sink)
	if err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("from the second place: %v (%d bytes)", err, got.Len())
	}
	if err := Fetch(ctx, stores, "pitr/1/wal/other.zst", archive.Zstd, nil, Expect{}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a key no place holds: %v", err)
	}
	if err := Fetch(ctx, stores[:1], "pitr/1/wal/seg.zst", archive.Zstd, nil, Expect{StoredSHA256: f.Sums.SHA256Hex()}, sink); err == nil || errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), "seg.zst") {
		t.Fatalf("only a bad copy: %v", err)
	}
}
