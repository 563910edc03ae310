package basebackup

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/wal"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func taker(t *testing.T, enc *crypt.Encrypter) (*Taker, destination.Dir) {
	t.Helper()
	_, store := fixture.OpenCatalog(t, config.Database{URL: cluster.URL(fixture.Catalog(t, cluster))})
	place := destination.Dir{Root: t.TempDir()}
	return &Taker{Tools: dump.Tools{}, Server: config.Database{URL: cluster.URL("postgres")}, SystemID: 42, SegSize: wal.DefaultSegmentSize,
		WorkDir: filepath.Join(t.TempDir(), ".pitr-work"), Form: sealed.Form{Format: archive.Zstd, Level: 3, Encrypter: enc},
		Stores: []destination.Store{place}, Catalog: store}, place
}

// A base backup is verified, sealed, in every place under its key, and
// recorded from start to end; its tar holds the cluster and its manifest;
// the work directory is left empty.
//
// Not parallel, here and below: two base backups' fast checkpoints at once
// on a server with no slot holding WAL back (the archive's stream holds it
// in production) may recycle the WAL the other has yet to stream.
func TestTakeEncrypted(t *testing.T) {
	recipient, identityFile := fixture.AgeKey(t)
	r, err := crypt.ParseRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := crypt.NewEncrypter([]age.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	tk, place := taker(t, enc)
	row, err := tk.Take(context.Background(), Decision{Trigger: TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != "success" || row.Timeline != 1 || row.StartLSN == "" || row.EndLSN == "" || row.ServerVersion == "" ||
		!strings.HasPrefix(row.ObjectKey, "pitr/42/base/") || !strings.HasSuffix(row.ObjectKey, ".tar.zst.age") || len(row.Copies) != 1 {
		t.Fatalf("%+v", row)
	}
	rows, err := tk.Catalog.BaseBackups(context.Background(), 42)
	if err != nil || len(rows) != 1 || rows[0].Status != "success" || rows[0].StoredSHA256 != row.StoredSHA256 || rows[0].ObjectKey != row.ObjectKey {
		t.Fatalf("catalog: %+v %v", rows, err)
	}
	path := filepath.Join(place.Root, filepath.FromSlash(row.ObjectKey))
	dec, err := crypt.IdentityFile(identityFile)
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, path, archive.OpenedBy(dec.Open))
	for _, want := range []string{"PG_VERSION", "backup_manifest", "backup_label", "global/pg_control", "pg_wal/"} {
		if !names[want] {
			t.Errorf("%s missing from the base backup's tar (%d names)", want, len(names))
		}
	}
	left, _ := os.ReadDir(tk.WorkDir)
	if len(left) != 0 {
		t.Errorf("the work directory keeps %v", left)
	}
}

// A base backup that fails says why in its row, leaves nothing in any
// place nor in the work directory; one a killed process left 'running',
// with its plain copy, is marked failed and its copy removed by the next.
func TestTakeFailsAndSweeps(t *testing.T) {
	tk, place := taker(t, nil)
	tk.Server = config.Database{URL: "postgres://postgres@127.0.0.1:1/postgres"}
	row, err := tk.Take(context.Background(), Decision{Trigger: TriggerScheduled})
	if err == nil || row.Status != "failed" || !strings.Contains(row.Error, "pg_basebackup") {
		t.Fatalf("%+v %v", row, err)
	}
	if objs, _ := place.List(context.Background()); len(objs) != 0 {
		t.Fatalf("a failed base backup left %v", objs)
	}

	stale := filepath.Join(tk.WorkDir, "base-killed", "data")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	killed := catalog.BaseBackup{ID: row.ID, SystemID: 42}
	killed.ID[0] ^= 0xff
	killed.Label, killed.TriggeredBy, killed.StartedAt, killed.Hostname = "killed", TriggerScheduled, row.StartedAt, "h"
	if err := tk.Catalog.StartBaseBackup(context.Background(), killed); err != nil {
		t.Fatal(err)
	}
	tk.Server = config.Database{URL: cluster.URL("postgres")}
	if _, err := tk.Take(context.Background(), Decision{Trigger: TriggerManual}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(stale)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the killed base backup's plain copy is still there: %v", err)
	}
	rows, _ := tk.Catalog.BaseBackups(context.Background(), 42)
	statuses := map[string]string{}
	for _, r := range rows {
		statuses[r.Label] = r.Status
		if r.Label == "killed" && !strings.Contains(r.Error, "interrupted") {
			t.Errorf("the killed one's row: %+v", r)
		}
	}
	if len(rows) != 3 || statuses["killed"] != "failed" {
		t.Fatalf("rows %v", statuses)
	}

	// One asked of the daemon is taken under the row that asked.
	asked, err := tk.Catalog.RequestBaseBackup(context.Background(), 42, row.StartedAt, "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ = tk.Catalog.BaseBackups(context.Background(), 42)
	why := Due(rows, schedule.Schedule{}, row.StartedAt)
	if why.Request != asked {
		t.Fatalf("the request is not due: %+v", why)
	}
	if got, err := tk.Take(context.Background(), why); err != nil || got.ID != asked || got.Status != "success" {
		t.Fatalf("%+v %v", got, err)
	}
	if rows, _ = tk.Catalog.BaseBackups(context.Background(), 42); len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
}

func tarNames(t *testing.T, path string, read ...archive.ReadOption) map[string]bool {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		_, err := archive.Check(context.Background(), path, archive.Zstd, pw, read...)
		pw.CloseWithError(err)
	}()
	names := map[string]bool{}
	tr := tar.NewReader(pr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}
