// Package lock makes sure that only one backup runs at a time, and that no
// backup file is deleted while it is read. One backup at a time: an flock on
// a file in the backup directory (one host) and a PostgreSQL advisory lock
// on the catalog database (every host). Both vanish with their holder, so a
// crashed backup never leaves a stale lock. A refused lock says who holds it.
package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
)

// FileName is the lock file in BACKUP_LOCAL_DIR.
const FileName = ".rgz-backup.lock"

// The advisory lock's two keys: our namespace ("RGZB") and the job.
const (
	advisoryNamespace = 0x52475a42
	advisoryBackup    = 1
)

// HeldError says another backup holds the lock.
type HeldError struct {
	Holder string // "pid 1234 on host db-1 since 2026-02-05T03:00:15Z"
}

func (e *HeldError) Error() string { return "another backup is running: " + e.Holder }

// Holder identifies a lock holder.
type Holder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d on host %s since %s", h.PID, h.Host, h.Since.UTC().Format(time.RFC3339))
}

// Me describes this process as a holder.
func Me() Holder {
	host, _ := os.Hostname()
	return Holder{PID: os.Getpid(), Host: host, Since: time.Now().UTC()}
}

// File takes the host-wide lock in dir. It does not wait: a held lock is a
// *HeldError naming the holder.
func File(dir string, me Holder) (release func(), err error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			var h Holder
			if b, rerr := os.ReadFile(path); rerr == nil && json.Unmarshal(b, &h) == nil {
				return nil, &HeldError{Holder: h.String()}
			}
			return nil, &HeldError{Holder: "a process on this host (lock file " + path + ")"}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	b, _ := json.Marshal(me)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// Advisory takes the lock shared by every host, on the catalog database,
// through a connection of its own that lives as long as the lock.
func Advisory(ctx context.Context, db config.Database, me Holder) (release func(), err error) {
	// Whoever is refused reads the application name to say who holds the lock.
	conn, err := dbconn.Connect(ctx, db, truncate(fmt.Sprintf("rgz-backup lock pid %d on host %s", me.PID, me.Host), 63))
	if err != nil {
		return nil, fmt.Errorf("connect to catalog for the backup lock: %w", err)
	}
	for try := 1; ; try++ {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, advisoryNamespace, advisoryBackup).Scan(&got); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("take the backup lock: %w", err)
		}
		if got {
			break
		}
		holder, found := advisoryHolder(ctx, conn)
		// A holder that cannot be found has just ended: its session is
		// still going away. Try once more rather than report a phantom.
		if !found && try == 1 {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		conn.Close(ctx)
		return nil, &HeldError{Holder: holder}
	}
	return func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Unlock explicitly: a closing session frees its locks only once
		// the server has finished ending it, which a backup started right
		// after this one could otherwise race.
		_, _ = conn.Exec(closeCtx, `SELECT pg_advisory_unlock($1, $2)`, advisoryNamespace, advisoryBackup)
		conn.Close(closeCtx)
	}, nil
}

// HeldBy says whether a backup holds the shared lock now, and who: the
// question `rgz-backup status` asks.
func HeldBy(ctx context.Context, db config.Database) (holder string, held bool, err error) {
	conn, err := dbconn.Connect(ctx, db, "rgz-backup status")
	if err != nil {
		return "", false, fmt.Errorf("connect to catalog: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	holder, held = advisoryHolder(ctx, conn)
	return holder, held, nil
}

// advisoryHolder describes the session that holds the advisory lock;
// found is false when no session holds it any more.
func advisoryHolder(ctx context.Context, conn *pgx.Conn) (holder string, found bool) {
	var app, addr string
	var since time.Time
	err := conn.QueryRow(ctx, `
		SELECT a.application_name, coalesce(host(a.client_addr), 'local socket'), a.query_start
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
		  -- advisory locks belong to one database: another catalog on the
		  -- same server has its own
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		advisoryNamespace, advisoryBackup).Scan(&app, &addr, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return "a session on the catalog database that has just ended (try again)", false
	}
	if err != nil {
		return "a session on the catalog database (cannot tell which: " + err.Error() + ")", true
	}
	return fmt.Sprintf("%s (connected from %s) since %s", app, addr, since.UTC().Format(time.RFC3339)), true
}

// Both takes the file lock, then the advisory lock; release frees both.
func Both(ctx context.Context, dir string, catalog config.Database) (release func(), err error) {
	me := Me()
	releaseFile, err := File(dir, me)
	if err != nil {
		return nil, err
	}
	releaseAdvisory, err := Advisory(ctx, catalog, me)
	if err != nil {
		releaseFile()
		return nil, err
	}
	return func() { releaseAdvisory(); releaseFile() }, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
