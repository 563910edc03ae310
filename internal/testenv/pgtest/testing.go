package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/dump"
)

// Main starts one cluster for a test package, runs its tests (m: the
// package's *testing.M, or what wraps it) and removes the cluster. A
// cluster that cannot start fails the package: a test that needs
// PostgreSQL never skips (the install script provides it).
func Main(m interface{ Run() int }, dst **Cluster) int {
	if err := programsFirst(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	dir, err := clusterDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	c, err := Start(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: cannot start PostgreSQL (run scripts/install-deps.sh):", err)
		os.RemoveAll(dir)
		return 1
	}
	*dst = c
	code := m.Run()
	if err := c.Remove(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: remove cluster:", err)
	}
	return code
}

// clusterDir makes a directory for a throwaway cluster: in memory
// (/dev/shm) where the machine has it, since creating and dropping a
// database creates and deletes hundreds of files, and ext4 spends more CPU
// on that than the server does on the tests' queries; else below the
// temporary directory. Not t.TempDir: the server's user must get through
// its parents.
func clusterDir() (string, error) {
	parent := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && st.Mode().Perm()&0o002 != 0 {
		parent = "/dev/shm"
	}
	return os.MkdirTemp(parent, "rgz-pgtest-")
}

// programsFirst puts the directory of the PostgreSQL programs the clusters
// run first on the PATH, for the code under test and the programs it
// starts: on Debian, /usr/bin/pg_dump is a Perl wrapper that chooses a
// version, and starting Perl for every pg_dump, pg_restore and pg_dumpall
// cost more CPU than the programs themselves.
func programsFirst() error {
	initdb, err := (dump.Tools{}).Path("initdb")
	if err != nil {
		return err
	}
	if initdb, err = filepath.EvalSymlinks(initdb); err != nil { // /usr/local/bin/initdb may be a link
		return err
	}
	return os.Setenv("PATH", filepath.Dir(initdb)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

var dbSeq atomic.Int64

// NewDatabase creates a fresh database for one test, dropped when it ends,
// and returns its name.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	return c.NewDatabaseFrom(t, "")
}

// NewDatabaseFrom is NewDatabase as a copy of database template ("":
// the server's default, an empty database).
func (c *Cluster) NewDatabaseFrom(t testing.TB, template string) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), strings.ToLower(sanitize(t.Name())))
	if len(name) > 60 {
		name = name[:60]
	}
	ctx := context.Background()
	// FILE_COPY: copying the files (in memory, fsync off) costs a third of
	// what the default, writing every page to the WAL, does.
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " STRATEGY FILE_COPY"
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if err := c.admin(ctx, sql); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { _ = c.DropDatabase(context.Background(), name) })
	return name
}

// Copy creates a database for one test, dropped when it ends, as a copy
// (CREATE DATABASE … TEMPLATE) of the template named name that fill makes
// once on this cluster: the sample's data, a migrated catalog. A copy costs
// a fraction of filling the database again, and the suite makes hundreds.
func (c *Cluster) Copy(t testing.TB, name string, fill func(ctx context.Context, url string) error) string {
	t.Helper()
	c.templatesMu.Lock()
	if c.templates == nil {
		c.templates = map[string]*template{}
	}
	tpl := c.templates[name]
	if tpl == nil {
		tpl = &template{}
		c.templates[name] = tpl
	}
	c.templatesMu.Unlock()
	tpl.once.Do(func() { tpl.err = c.makeTemplate(context.Background(), name, fill) })
	if tpl.err != nil {
		t.Fatalf("template %s: %v", name, tpl.err)
	}
	return c.NewDatabaseFrom(t, name)
}

type template struct {
	once sync.Once
	err  error
}

// makeTemplate fills a new database name and makes it a template nobody
// connects to (a connection, autovacuum's included, would make every copy
// wait or fail).
func (c *Cluster) makeTemplate(ctx context.Context, name string, fill func(ctx context.Context, url string) error) error {
	if err := c.CreateDatabase(ctx, name); err != nil {
		return err
	}
	if err := fill(ctx, c.URL(name)); err != nil {
		return err
	}
	return c.admin(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// Conn connects to database db for one test, closed when it ends.
func (c *Cluster) Conn(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), c.URL(db))
	if err != nil {
		t.Fatalf("connect to %s: %v", db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// SchemaOnly is `pg_dump --schema-only` of db, comparable between two
// databases (pg_dump's random \restrict keys removed).
func (c *Cluster) SchemaOnly(t testing.TB, db string) string {
	t.Helper()
	pgDump, err := c.tools.Path("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pgDump, "--schema-only", "--dbname="+c.URL(db)).Output()
	if err != nil {
		t.Fatalf("pg_dump --schema-only %s: %v", db, err)
	}
	var kept []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "\\restrict ") && !strings.HasPrefix(line, "\\unrestrict ") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// Own starts a cluster of one test's own, removed when it ends: for a
// test whose server must hold only its databases (BACKUP_DATABASES=*),
// or whose server settings, WAL or replication slots must not meet the
// package's other tests (point-in-time recovery streams a whole server).
func Own(t testing.TB) *Cluster {
	t.Helper()
	dir, err := clusterDir()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(context.Background(), dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("start PostgreSQL (run scripts/install-deps.sh): %v", err)
	}
	t.Cleanup(func() { _ = c.Remove() })
	return c
}

// Set changes a server setting (ALTER SYSTEM, reloaded) and waits until
// new sessions see it changed.
func (c *Cluster) Set(t testing.TB, name, value string) {
	t.Helper()
	ctx := context.Background()
	current := func() string {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var v string
		if err := conn.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := current()
	if err := c.admin(ctx, fmt.Sprintf("ALTER SYSTEM SET %s = '%s'", pgx.Identifier{name}.Sanitize(), strings.ReplaceAll(value, "'", "''"))); err != nil {
		t.Fatal(err)
	}
	if err := c.admin(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if now := current(); now != before || now == value {
			return
		}
	}
	t.Fatalf("%s = %s: not seen after 10 s", name, value)
}
