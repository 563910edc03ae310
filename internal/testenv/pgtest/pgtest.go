// Package pgtest starts throwaway PostgreSQL clusters (initdb + pg_ctl on a
// free loopback port) for tests, the demo and the benchmarks. Run as root,
// the server runs as the "postgres" user, as PostgreSQL requires.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// Cluster is one running PostgreSQL server owned by this process.
type Cluster struct {
	Dir     string // holds the data directory and the log
	Port    int
	tools   dump.Tools
	account *syscall.Credential // nil: run as ourselves

	templatesMu sync.Mutex
	templates   map[string]*template // by name (Copy)
}

// Start creates and starts a cluster below baseDir (which it creates).
// Server settings trade durability for speed: these clusters are thrown away.
func Start(ctx context.Context, baseDir string) (*Cluster, error) {
	c := &Cluster{Dir: baseDir}
	if os.Geteuid() == 0 {
		cred, err := postgresAccount()
		if err != nil {
			return nil, err
		}
		c.account = cred
	}
	if err := os.MkdirAll(baseDir, 0o755); err != nil {
		return nil, err
	}
	if c.account != nil {
		// The server runs as postgres: baseDir is its own, and its parents
		// must let it through (a directory under /tmp does).
		if err := os.Chown(baseDir, int(c.account.Uid), int(c.account.Gid)); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.Port = port
	data := filepath.Join(baseDir, "data")
	if err := c.exec(ctx, "initdb", "--pgdata="+data, "--username=postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s "+
		"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "+
		"-c shared_buffers=128MB -c max_wal_size=2GB", port, baseDir)
	if err := c.exec(ctx, "pg_ctl", "start", "--wait", "--pgdata="+data,
		"--log="+filepath.Join(baseDir, "server.log"), "-o", opts); err != nil {
		return nil, fmt.Errorf("%w (server log: %s)", err, filepath.Join(baseDir, "server.log"))
	}
	return c, nil
}

// Stop stops the server at once; the data is meant to be thrown away.
func (c *Cluster) Stop() error {
	return c.exec(context.Background(), "pg_ctl", "stop", "--pgdata="+filepath.Join(c.Dir, "data"), "--mode=immediate", "--wait")
}

// Remove stops the server and deletes its files.
func (c *Cluster) Remove() error {
	err := c.Stop()
	if rmErr := os.RemoveAll(c.Dir); err == nil {
		err = rmErr
	}
	return err
}

// URL is the address of database db on this cluster, as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// CreateDatabase creates an empty database.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return c.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// DropDatabase drops a database, disconnecting whoever is still in it.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	return c.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func (c *Cluster) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func (c *Cluster) exec(ctx context.Context, name string, args ...string) error {
	path, err := c.tools.Path(name)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = c.Dir
	if c.account != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.account}
		cmd.Env = append(os.Environ(), "HOME="+c.Dir)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

func postgresAccount() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, the test server needs the 'postgres' user (install the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	_, port, err := testtool.FreeAddr()
	return port, err
}

// addr is the cluster's host:port.
func (c *Cluster) addr() string { return fmt.Sprintf("127.0.0.1:%d", c.Port) }

// hbaMu serialises the edits of pg_hba.conf by parallel tests.
var hbaMu sync.Mutex

// editHBA rewrites pg_hba.conf through edit and reloads the server.
func (c *Cluster) editHBA(edit func(string) string) error {
	hbaMu.Lock()
	defer hbaMu.Unlock()
	hba := filepath.Join(c.Dir, "data", "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	if err := os.WriteFile(hba, []byte(edit(string(old))), 0o600); err != nil {
		return err
	}
	return c.admin(context.Background(), "SELECT pg_reload_conf()")
}

// PasswordRole creates a login role that must authenticate with password
// over TCP (scram-sha-256), whatever the cluster's trust default, and
// returns a URL for it to database db without the password. For tests of
// wrong passwords and of secrets in passwords.
func (c *Cluster) PasswordRole(t testing.TB, role, password, db string) string {
	t.Helper()
	ctx := context.Background()
	quoted := pgx.Identifier{role}.Sanitize()
	if err := c.admin(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'", quoted, strings.ReplaceAll(password, "'", "''"))); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("host all %s 127.0.0.1/32 scram-sha-256\n", quoted)
	if err := c.editHBA(func(hba string) string { return line + hba }); err != nil {
		t.Fatal(err)
	}
	// Remove our line only: parallel tests add theirs meanwhile, and
	// restoring the file as it was would drop them (their roles would
	// then fall through to trust).
	t.Cleanup(func() { _ = c.editHBA(func(hba string) string { return strings.Replace(hba, line, "", 1) }) })
	return strings.Replace(c.URL(db), "postgres@", role+"@", 1)
}

// Owner is the user the server runs as, when it is not this process's
// (running as root: PostgreSQL's own user); nil otherwise. A test runs as
// it what PostgreSQL refuses to run as root.
func (c *Cluster) Owner() *syscall.Credential { return c.account }
