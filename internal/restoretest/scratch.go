package restoretest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
)

// A scratch database holds a full copy of a backed-up database: it must
// not outlive the test that made it, even when that test's process is
// killed (kill -9, the OOM killer, a drained node) and runs no cleanup.
// So a test owns its scratch database through a session on the
// restore-test server named after it (ownerApp), opened before the
// database is created and held until it is dropped: the server ends the
// session when our process dies. pg_stat_activity shows every session's
// name to every role, whatever database it is in, so a scratch database
// whose owner session is gone, and that no session is connected to
// (pg_restore's, the comparison's), has no live owner, and Sweep drops it:
// every restore test does before its own, and the daemon at start. One
// kept on purpose (--keep) says so in its comment. The owner session pings
// the server every keepAlive, so that no idle timeout or NAT ends it
// while the test lives, and comes back if it is lost. It needs a session
// of its own on the server: a BACKUP_RESTORE_TEST_DATABASE_URL through a
// transaction-pooling proxy would hide it (docs/CONFIGURATION.md).

// keptComment marks a scratch database left for a person (--keep).
const keptComment = "rgz-backup: kept by restore-test --keep"

// ownerApp is the name of the session that owns scratch database name
// (51 bytes at most, within PostgreSQL's 63).
func ownerApp(name string) string { return "rgz-owner:" + name }

// keepAlive is how often the owner session pings the server.
var keepAlive = 30 * time.Second

// owner is the session that owns a scratch database.
type owner struct {
	target config.Database
	name   string
	mu     sync.Mutex
	conn   *pgx.Conn
	done   chan struct{}
	log    *slog.Logger
	every  time.Duration // keepAlive when claimed
}

// claim opens the session that owns the scratch database name, on
// target's server, before the database exists; one already owned is
// refused. The session is kept alive until release.
func claim(ctx context.Context, target config.Database, name string, log *slog.Logger) (*owner, error) {
	conn, err := dbconn.Connect(ctx, target, ownerApp(name))
	if err != nil {
		return nil, fmt.Errorf("connect to the restore-test server: %w", err)
	}
	var others int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", ownerApp(name)).Scan(&others)
	if err != nil || others > 0 {
		conn.Close(context.WithoutCancel(ctx))
		if err == nil {
			err = errors.New("another test owns it")
		}
		return nil, fmt.Errorf("own scratch database %s: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &owner{target: target, name: name, conn: conn, done: make(chan struct{}), log: log, every: keepAlive}
	go o.stayAlive()
	return o, nil
}

// stayAlive pings the owner session every keepAlive, and opens it again
// when it was lost (an idle timeout, a dropped connection).
func (o *owner) stayAlive() {
	t := time.NewTicker(o.every)
	defer t.Stop()
	for {
		select {
		case <-o.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		o.mu.Lock()
		if err := o.conn.Ping(ctx); err != nil {
			o.conn.Close(ctx)
			if conn, cerr := dbconn.Connect(ctx, o.target, ownerApp(o.name)); cerr == nil {
				o.conn = conn
				o.log.Warn("the scratch database's owner session was lost, and is back", "database", o.name, "error", err)
			} else {
				o.log.Error("the scratch database's owner session is lost: a sweep could take the database", "database", o.name, "error", cerr)
			}
		}
		o.mu.Unlock()
		cancel()
	}
}

// keep marks the scratch database as kept for a person, so that no sweep
// takes it.
func (o *owner) keep(ctx context.Context, name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := o.conn.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{name}.Sanitize()+" IS "+quote(keptComment))
	return err
}

// release ends the session, and with it the ownership.
func (o *owner) release(ctx context.Context) {
	close(o.done)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.conn.Close(context.WithoutCancel(ctx))
}

// ServerOf names the server of db as HOST:PORT (the scratch_server of the
// tests made there).
func ServerOf(db config.Database) string {
	cfg, err := pgx.ParseConfig(db.URL)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Swept is what a sweep did.
type Swept struct {
	Dropped   []string // scratch databases of tests that died
	Abandoned []string // restore tests recorded as running whose process died, now failed
}

// Sweep drops the scratch databases on target's server that no live test
// owns (named with ScratchPrefix, not kept, no owner session), and, with a
// store, records as failed the tests still "running" whose owner is gone.
// It never touches a database without the prefix, one a live test owns, or
// one kept with --keep.
func Sweep(ctx context.Context, store *catalog.Store, target config.Database, now time.Time, log *slog.Logger) (Swept, error) {
	var out Swept
	conn, err := dbconn.Connect(ctx, target, "rgz-backup restore test sweep")
	if err != nil {
		return out, fmt.Errorf("connect to the restore-test server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database
		WHERE starts_with(datname, $1) ORDER BY datname`, ScratchPrefix)
	if err != nil {
		return out, fmt.Errorf("list scratch databases: %w", err)
	}
	type scratch struct{ name, comment string }
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scratch, error) {
		var s scratch
		return s, r.Scan(&s.name, &s.comment)
	})
	if err != nil {
		return out, fmt.Errorf("list scratch databases: %w", err)
	}
	for _, s := range found {
		if s.comment == keptComment {
			continue
		}
		orphan, err := unowned(ctx, conn, s.name)
		if err != nil || !orphan {
			continue
		}
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.name}.Sanitize()+" WITH (FORCE)")
		if err != nil {
			log.Warn("scratch database of a test that died not dropped", "database", s.name, "error", err)
			continue
		}
		log.Warn("dropped the scratch database of a restore test whose process died", "database", s.name)
		out.Dropped = append(out.Dropped, s.name)
	}
	if store == nil {
		return out, nil
	}
	running, err := store.RunningRestoreTests(ctx)
	if err != nil {
		return out, err
	}
	here := ServerOf(target)
	for _, rt := range running {
		if rt.ScratchDatabase == nil || rt.ScratchServer == nil || *rt.ScratchServer != here {
			continue // queued, not started (its job will be), or made on another server
		}
		orphan, err := unowned(ctx, conn, *rt.ScratchDatabase)
		if err != nil || !orphan {
			continue
		}
		if err := store.AbandonRestoreTest(ctx, rt.ID, now, "abandoned: the process running this test stopped (killed?) before it finished; its scratch database was dropped"); err != nil {
			return out, err
		}
		log.Warn("a restore test whose process died recorded as failed", "restore_test", rt.ID)
		out.Abandoned = append(out.Abandoned, rt.ID)
	}
	return out, nil
}

// unowned says whether no live test owns scratch database name: no
// session bears its owner's name, and no client is connected to it. The
// server's own workers (autovacuum, which visits a freshly restored
// database) own nothing: DROP ... WITH (FORCE) ends them.
func unowned(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var owned bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND (application_name = $1 OR datname = $2))`, ownerApp(name), name).Scan(&owned)
	return !owned, err
}
