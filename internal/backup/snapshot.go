package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
)

// snapshot is an open REPEATABLE READ transaction whose snapshot pg_dump
// imports, so that the row counts taken here describe exactly the data in
// the dump. It must stay open until pg_dump has started.
type snapshot struct {
	conn          *pgx.Conn
	tx            pgx.Tx
	ID            string // for pg_dump --snapshot
	Database      string
	ServerVersion string // "15.20 (Debian 15.20-0+deb12u1)"
	ServerMajor   int
}

// openSnapshot opens the snapshot in a session named sessionName, whose
// statements wait at most lockWait for a lock.
func openSnapshot(ctx context.Context, db config.Database, sessionName string, lockWait time.Duration) (*snapshot, error) {
	connectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := dbconn.Connect(connectCtx, db, sessionName)
	if err != nil {
		return nil, fmt.Errorf("connect to the database to back up: %w", err)
	}
	s := &snapshot{conn: conn}
	s.tx, err = conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err == nil {
		err = limitLockWait(ctx, s.tx, lockWait)
	}
	if err == nil {
		var versionNum int
		err = s.tx.QueryRow(ctx, `SELECT pg_export_snapshot(), current_database(), current_setting('server_version'),
			current_setting('server_version_num')::int`).Scan(&s.ID, &s.Database, &s.ServerVersion, &versionNum)
		s.ServerMajor = versionNum / 10000
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("export a snapshot: %w", err)
	}
	return s, nil
}

// countRows counts the exact rows of every table whose data pg_dump
// writes, inside the snapshot.
func (s *snapshot) countRows(ctx context.Context) (map[string]int64, error) {
	return CountRows(ctx, s.tx)
}

// Querier is what CountRows needs: a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CountRows counts the exact rows of every table whose data pg_dump
// writes: ordinary tables and partitions, outside the system schemas and
// not owned by an extension. Keys are "schema.table". The backup counts
// them in its snapshot; the restore test counts them again in the copy.
func CountRows(ctx context.Context, db Querier) (map[string]int64, error) {
	rows, err := db.Query(ctx, `
		SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r'
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d
		                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var t [2]string
		return t, r.Scan(&t[0], &t[1])
	})
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := db.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t[0], t[1]}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows of %s.%s: %w", t[0], t[1], err)
		}
		counts[TableKey(t[0], t[1])] = n
	}
	return counts, nil
}

// TableKey names a table in row_counts.
func TableKey(schema, table string) string { return schema + "." + table }

func (s *snapshot) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.tx != nil {
		_ = s.tx.Rollback(ctx)
	}
	s.conn.Close(ctx)
}
