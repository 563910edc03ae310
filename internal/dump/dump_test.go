package dump_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/config"
	. "github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func TestParseClientVersion(t *testing.T) {
	t.Parallel()
	cases := map[string]int{
		"pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)": 15,
		"pg_dump (PostgreSQL) 17.2":                           17,
		"pg_restore (PostgreSQL) 9.6.24":                      9,
		"pg_dump (PostgreSQL) 18beta1":                        18,
	}
	for line, want := range cases {
		if got, err := ParseClientVersion(line); err != nil || got != want {
			t.Errorf("%q: %d, %v", line, got, err)
		}
	}
	if _, err := ParseClientVersion("bash: pg_dump: command not found"); err == nil {
		t.Error("accepted garbage")
	}
}

func TestPathInBinDir(t *testing.T) {
	t.Parallel()
	if _, err := (Tools{BinDir: t.TempDir()}).Path("pg_dump"); err == nil || !strings.Contains(err.Error(), "BACKUP_PG_BIN_DIR") {
		t.Fatalf("err = %v", err)
	}
	p, err := Tools{}.Path("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	major, line, err := Tools{}.Version(context.Background(), "pg_dump")
	if err != nil || major < 15 || !strings.Contains(line, "PostgreSQL") {
		t.Fatalf("%s: %d %q %v", p, major, line, err)
	}
}

// failingWriter accepts n bytes, then fails as a full disk would.
type failingWriter struct{ n int }

var errDiskFull = errors.New("no space left on device")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errDiskFull
	}
	return len(p), nil
}

func TestDumpReportsOurWriteFailure(t *testing.T) {
	t.Parallel()
	db := sample.Database(t, cluster, 10)
	done := make(chan error, 1)
	go func() {
		done <- Tools{}.Dump(context.Background(), config.Database{URL: cluster.URL(db)}, "", 0, &failingWriter{n: 1 << 20})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "pg_dump output") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("pg_dump hung after its reader failed")
	}
}

func TestDumpCancelled(t *testing.T) {
	t.Parallel()
	db := sample.Database(t, cluster, 10)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupted by test"))
	err := Tools{}.Dump(ctx, config.Database{URL: cluster.URL(db)}, "", 0, &failingWriter{n: 1 << 30})
	if err == nil || !strings.Contains(err.Error(), "interrupted by test") {
		t.Fatalf("err = %v", err)
	}
}

func TestDumpFailureCarriesStderr(t *testing.T) {
	t.Parallel()
	err := Tools{}.Dump(context.Background(), config.Database{URL: cluster.URL("no_such_db")}, "", 0, &failingWriter{n: 1 << 30})
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || !strings.Contains(exitErr.Stderr, "no_such_db") {
		t.Fatalf("err = %v", err)
	}
}
