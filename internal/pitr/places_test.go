package pitr

import (
	"testing"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/wal"
)

func TestReadListing(t *testing.T) {
	t.Parallel()
	got := ReadListing([]string{
		"pitr/42/base/20261206T010000Z-000000010000000000000002.tar.zst.age",
		"pitr/42/base/20261206T010000Z-000000010000000000000002.json",
		"pitr/42/wal/0000000100000000/000000010000000000000002.zst.age",
		"pitr/42/wal/0000000100000000/000000010000000000000003.partial.zst.age",
		"pitr/42/wal/00000002.history.zst.age",
		"pitr/42/wal/0000000100000001/000000010000000000000002.zst", // in the wrong folder: not ours
		"pitr/43/wal/0000000100000000/000000010000000000000009.gz",
		"pitr/x/wal/0000000100000000/000000010000000000000009.gz",
		"default/rgz/20261206_030000.dump.gz",
		"pitr/42/wal/0000000100000000/nonsense",
	})
	l := got[42]
	if len(got) != 2 || l == nil || len(l.Files) != 2 || len(l.Sidecars) != 1 || len(l.Bases) != 1 || l.Histories[2] != "pitr/42/wal/00000002.history.zst.age" {
		t.Fatalf("%+v %+v", got, l)
	}
	if l.Files[0].Partial || !l.Files[1].Partial || l.Files[1].End != wal.LSN(4*wal.DefaultSegmentSize) {
		t.Fatalf("%+v", l.Files)
	}
	for name, want := range map[string]struct {
		f archive.Format
		e bool
	}{"a.tar.zst.age": {archive.Zstd, true}, "x.gz": {archive.Gzip, false}, "x.partial.bz2": {archive.Bzip2, false}, "x.tar": {archive.None, false}} {
		if f, e := StoredForm(name); f != want.f || e != want.e {
			t.Errorf("%s: %s %v", name, f, e)
		}
	}
}
