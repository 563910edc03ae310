package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/rowcount"
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
	return rowcount.Count(ctx, s.tx)
}

func (s *snapshot) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.tx != nil {
		_ = s.tx.Rollback(ctx)
	}
	s.conn.Close(ctx)
}
