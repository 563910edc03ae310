// Package lock makes sure that only one backup of a database runs at a
// time, that no more run at once than the limits allow, and that no backup
// file is deleted while it is read. One backup at a time: an flock on a
// file in the backup directory (one host) and a PostgreSQL advisory lock
// on the catalog database (every host). With several databases (issue 16)
// each has its own advisory lock, and a backup also takes one of its
// server's slots and one of the global slots (advisory locks too), while
// holding the whole service's lock shared: retention and recovery hold it
// alone. All vanish with their holder, so a crashed backup never leaves a
// stale lock. A refused lock says who holds it.
package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
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

// The advisory locks' two keys: a class in our namespace ("RGZB" and the
// next ones) and an id.
const (
	advisoryNamespace = 0x52475a42
	advisoryBackup    = 1

	classDatabase   = advisoryNamespace + 1 // id: hash of target/database
	classServerSlot = advisoryNamespace + 2 // id: hash of the target + slot
	classGlobalSlot = advisoryNamespace + 3 // id: slot
	classPITR       = advisoryNamespace + 4 // id: hash of the server and slot
	classPITRBase   = advisoryNamespace + 5 // id: hash of the cluster's system identifier
	classPITRTest   = advisoryNamespace + 6 // id: 0: the point-in-time restore test
)

// Key is one advisory lock: pg_try_advisory_lock(Class, ID).
type Key struct{ Class, ID int32 }

// Service is the lock of today's one database, and of the whole service:
// a backup of today's configuration holds it alone; with several
// databases every backup holds it shared, and retention and recovery
// alone, so they never run beside a backup.
var Service = Key{advisoryNamespace, advisoryBackup}

// Plan is the advisory locks one backup takes, on one connection: Own
// (refused: *HeldError, another backup of the same database runs), Service
// shared when Shared, then one key of each pool (each a concurrency limit:
// a pool of n keys lets n backups run; all taken: *BusyError).
type Plan struct {
	Own    Key
	Shared bool
	Pools  []Pool
}

// Pool is a concurrency limit: one of its keys per backup.
type Pool struct {
	Name string // what it limits, for the error: "server rgz-db", "the service"
	Keys []Key
}

// One is the plan of today's configuration: the service's lock, alone.
func One() Plan { return Plan{Own: Service} }

// ForDatabase is the plan of a backup of database on target, with at most
// perServer backups on its server and global in all at once.
func ForDatabase(target, database string, perServer, global int) Plan {
	server := Pool{Name: "server " + target}
	for i := range max(perServer, 1) {
		server.Keys = append(server.Keys, Key{classServerSlot, hash(target) + int32(i)})
	}
	all := Pool{Name: "the service"}
	for i := range max(global, 1) {
		all.Keys = append(all.Keys, Key{classGlobalSlot, int32(i)})
	}
	return Plan{Own: databaseKey(target, database), Shared: true, Pools: []Pool{server, all}}
}

// ForPITR is the plan of a server's point-in-time recovery archive: one
// holder across every replica streams its WAL through slot and takes its
// base backups (server: its address, as the configuration names it).
func ForPITR(server, slot string) Plan {
	return Plan{Own: Key{classPITR, hash(server + "\x00" + slot)}}
}

// ForBaseBackup is the plan of a base backup of the cluster systemID: one
// at a time, whoever takes it (the daemon, rgz-backup pitr base-backup).
func ForBaseBackup(systemID uint64) Plan {
	return Plan{Own: Key{classPITRBase, hash(fmt.Sprint(systemID))}}
}

// ForPITRTest is the plan of a point-in-time restore test: one at a
// time across every replica and the command line (each copies a whole
// cluster onto its host's disk).
func ForPITRTest() Plan { return Plan{Own: Key{classPITRTest, 0}} }

// databaseKey is the lock of one database's backups, with several.
func databaseKey(target, database string) Key {
	return Key{classDatabase, hash(target + "/" + database)}
}

// hash maps a name to a lock id; two names with one id only wait for
// each other, never run together where they must not.
func hash(s string) int32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int32(h.Sum32() & 0x3fffffff) // room to add slot numbers
}

// BusyError says every key of a pool is taken: as many backups as the
// limit allows are running.
type BusyError struct{ Pool string }

func (e *BusyError) Error() string {
	return "as many backups as allowed are running on " + e.Pool + " (BACKUP_MAX_PARALLEL_PER_SERVER, BACKUP_MAX_PARALLEL)"
}

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

// Advisory takes the service's lock, alone (today's configuration).
func Advisory(ctx context.Context, db config.Database, me Holder) (release func(), err error) {
	return Take(ctx, db, me, One())
}

// Take takes plan's locks, shared by every host, on the catalog database,
// through a connection of its own that lives as long as the locks. It does
// not wait: a held lock is a *HeldError, a full pool a *BusyError.
func Take(ctx context.Context, db config.Database, me Holder, plan Plan) (release func(), err error) {
	// Whoever is refused reads the application name to say who holds the lock.
	conn, err := dbconn.Connect(ctx, db, truncate(fmt.Sprintf("rgz-backup lock pid %d on host %s", me.PID, me.Host), 63))
	if err != nil {
		return nil, fmt.Errorf("connect to catalog for the backup lock: %w", err)
	}
	fail := func(err error) (func(), error) {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if plan.Shared {
		if err := takeKey(ctx, conn, Service, true); err != nil {
			return fail(err)
		}
	}
	if err := takeKey(ctx, conn, plan.Own, false); err != nil {
		return fail(err)
	}
	for _, pool := range plan.Pools {
		if err := takeOneOf(ctx, conn, pool); err != nil {
			return fail(err)
		}
	}
	return func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Unlock explicitly: a closing session frees its locks only once
		// the server has finished ending it, which a backup started right
		// after this one could otherwise race.
		_, _ = conn.Exec(closeCtx, `SELECT pg_advisory_unlock_all()`)
		conn.Close(closeCtx)
	}, nil
}

// takeKey takes one lock (shared or alone) or says who holds it.
func takeKey(ctx context.Context, conn *pgx.Conn, key Key, shared bool) error {
	query := `SELECT pg_try_advisory_lock($1, $2)`
	if shared {
		query = `SELECT pg_try_advisory_lock_shared($1, $2)`
	}
	for try := 1; ; try++ {
		var got bool
		if err := conn.QueryRow(ctx, query, key.Class, key.ID).Scan(&got); err != nil {
			return fmt.Errorf("take the backup lock: %w", err)
		}
		if got {
			return nil
		}
		holder, found := advisoryHolder(ctx, conn, key)
		// A holder that cannot be found has just ended: its session is
		// still going away. Try once more rather than report a phantom.
		if !found && try == 1 {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		return &HeldError{Holder: holder}
	}
}

// takeOneOf takes the first free key of pool.
func takeOneOf(ctx context.Context, conn *pgx.Conn, pool Pool) error {
	for _, key := range pool.Keys {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, key.Class, key.ID).Scan(&got); err != nil {
			return fmt.Errorf("take a backup slot: %w", err)
		}
		if got {
			return nil
		}
	}
	return &BusyError{Pool: pool.Name}
}

// Wait takes plan's locks, waiting (polling every poll) while its pools
// are full, until wait has passed: a backup queued behind the limit starts
// as soon as a slot frees, rather than after a retry delay.
func Wait(ctx context.Context, db config.Database, me Holder, plan Plan, wait, poll time.Duration) (release func(), err error) {
	deadline := time.Now().Add(wait)
	for {
		release, err := Take(ctx, db, me, plan)
		var busy *BusyError
		if !errors.As(err, &busy) || time.Now().After(deadline) {
			return release, err
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(poll):
		}
	}
}

// HeldBy says whether a backup holds the shared lock now, and who: the
// question `rgz-backup status` asks.
func HeldBy(ctx context.Context, db config.Database) (holder string, held bool, err error) {
	conn, err := dbconn.Connect(ctx, db, "rgz-backup status")
	if err != nil {
		return "", false, fmt.Errorf("connect to catalog: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	holder, held = advisoryHolder(ctx, conn, Service)
	return holder, held, nil
}

// Running says, of the backup of each "target/database" named, whether a
// live session holds the lock it runs under: the service's alone with
// today's one database, its database's with several (where retention and
// recovery hold the service's alone, and that says nothing of a backup).
// An attempt listed in the catalog whose backup is not running is a dead
// one.
func Running(ctx context.Context, db config.Database, several bool, databases [][2]string) (map[[2]string]bool, error) {
	conn, err := dbconn.Connect(ctx, db, "rgz-backup status")
	if err != nil {
		return nil, fmt.Errorf("connect to catalog: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT classid::int8, objid::int8, mode = 'ExclusiveLock' FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND pid <> pg_backend_pid()
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return nil, fmt.Errorf("read the backup locks: %w", err)
	}
	held, alone := map[Key]bool{}, map[Key]bool{}
	for rows.Next() {
		var class, id int64
		var exclusive bool
		if err := rows.Scan(&class, &id, &exclusive); err != nil {
			return nil, fmt.Errorf("read the backup locks: %w", err)
		}
		k := Key{int32(class), int32(id)}
		held[k], alone[k] = true, alone[k] || exclusive
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the backup locks: %w", err)
	}
	out := map[[2]string]bool{}
	for _, d := range databases {
		if several {
			out[d] = held[databaseKey(d[0], d[1])]
		} else {
			out[d] = alone[Service]
		}
	}
	return out, nil
}

// advisoryHolder describes the session that holds the advisory lock;
// found is false when no session holds it any more.
func advisoryHolder(ctx context.Context, conn *pgx.Conn, key Key) (holder string, found bool) {
	var app, addr string
	var since time.Time
	err := conn.QueryRow(ctx, `
		SELECT a.application_name, coalesce(host(a.client_addr), 'local socket'), a.query_start
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
		  -- advisory locks belong to one database: another catalog on the
		  -- same server has its own
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND a.pid <> pg_backend_pid()
		ORDER BY a.query_start LIMIT 1`,
		key.Class, key.ID).Scan(&app, &addr, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return "a session on the catalog database that has just ended (try again)", false
	}
	if err != nil {
		return "a session on the catalog database (cannot tell which: " + err.Error() + ")", true
	}
	return fmt.Sprintf("%s (connected from %s) since %s", app, addr, since.UTC().Format(time.RFC3339)), true
}

// Both takes the file lock, then the service's advisory lock alone;
// release frees both.
func Both(ctx context.Context, dir string, catalog config.Database) (release func(), err error) {
	return BothOf(ctx, dir, catalog, One(), 0)
}

// BothOf takes the file lock in dir, then plan's advisory locks, waiting
// up to wait while its pools are full; release frees them all.
func BothOf(ctx context.Context, dir string, catalog config.Database, plan Plan, wait time.Duration) (release func(), err error) {
	me := Me()
	releaseFile, err := File(dir, me)
	if err != nil {
		return nil, err
	}
	releaseAdvisory, err := Wait(ctx, catalog, me, plan, wait, 250*time.Millisecond)
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
