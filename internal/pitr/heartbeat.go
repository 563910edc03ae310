package pitr

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/dbconn"
)

// The heartbeat is what the point-in-time restore test compares a
// restored copy with: the daemon that streams a server writes a row with
// the server's clock into a small table of its own on it, in a schema of
// its own beside the platform's tables (docs/PITR.md). A copy restored to
// a moment must hold the last heartbeat before it and not the first after
// it.
const (
	HeartbeatSchema = "rgz_backup"
	HeartbeatTable  = HeartbeatSchema + ".pitr_heartbeat"
)

// HeartbeatEvery is how often the heartbeat is written: as often as the
// partial segment is shipped (the archive's resolution), at least every
// minute.
func HeartbeatEvery(shipEvery time.Duration) time.Duration {
	return min(time.Minute, max(shipEvery, time.Second))
}

// TestMargin is how far before the end of the archive a restore test's
// target may be: a heartbeat must have been written after it (recovery
// stops at the first commit after the target), and shipped.
func TestMargin(shipEvery time.Duration) time.Duration {
	return 2 * (HeartbeatEvery(shipEvery) + max(shipEvery, time.Second))
}

// heartbeats writes the heartbeat until ctx ends. A write that fails is
// said once, with what to do, and tried again at the next beat: the
// stream does not depend on it; the restore test says what it could not
// check.
func (a *Archive) heartbeats(ctx context.Context) {
	every := HeartbeatEvery(a.Config.PITR.ShipEvery)
	keep := time.Duration(a.Config.PITR.RetentionDays+7) * 24 * time.Hour
	host, _ := os.Hostname()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	failing := false
	for ctx.Err() == nil {
		var err error
		if conn == nil {
			conn, err = dbconn.Connect(ctx, a.Server, "rgz-backup pitr heartbeat")
		}
		if err == nil {
			err = beat(ctx, conn, host, keep)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			if conn != nil {
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			}
			if !failing {
				a.Log.Warn("point-in-time recovery: the heartbeat could not be written; the restore test cannot compare a restored copy's contents without it",
					"table", HeartbeatTable, "error", err,
					"fix", "let the role create the schema (GRANT CREATE ON DATABASE), or create it for the role: CREATE SCHEMA "+HeartbeatSchema+" AUTHORIZATION <role>")
				failing = true
			}
		case err == nil && failing:
			a.Log.Info("point-in-time recovery: the heartbeat is written again", "table", HeartbeatTable)
			failing = false
		}
		a.sleep(ctx, every)
	}
}

// beat writes one heartbeat, making the table first if it is not there,
// and removes the ones older than keep.
func beat(ctx context.Context, conn *pgx.Conn, host string, keep time.Duration) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, HeartbeatTable).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		// The schema may exist already, made for the role by an admin:
		// CREATE SCHEMA IF NOT EXISTS would still need CREATE on the
		// database.
		var schema bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, HeartbeatSchema).Scan(&schema); err != nil {
			return err
		}
		if !schema {
			if _, err := conn.Exec(ctx, "CREATE SCHEMA "+HeartbeatSchema); err != nil {
				return fmt.Errorf("create schema %s: %w", HeartbeatSchema, err)
			}
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+HeartbeatTable+` (
			beat_at TIMESTAMPTZ PRIMARY KEY,
			hostname TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("create table %s: %w", HeartbeatTable, err)
		}
		if _, err := conn.Exec(ctx, "COMMENT ON TABLE "+HeartbeatTable+
			" IS 'rgz-backup: a row every minute at most, compared by the point-in-time recovery restore test'"); err != nil {
			return fmt.Errorf("comment on %s: %w", HeartbeatTable, err)
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+HeartbeatTable+" (beat_at, hostname) VALUES (clock_timestamp(), $1)", host); err != nil {
		return fmt.Errorf("write the heartbeat: %w", err)
	}
	_, err := conn.Exec(ctx, "DELETE FROM "+HeartbeatTable+" WHERE beat_at < now() - $1::interval", fmt.Sprintf("%d seconds", int64(keep.Seconds())))
	return err
}

// Heartbeats are the server's heartbeats around target: the last at or
// before target-slack and the first at or after target+slack (nil when
// there is none). Those in between are too close to the target to say on
// which side of it their commit fell.
func Heartbeats(ctx context.Context, conn *pgx.Conn, target time.Time, slack time.Duration) (before, after *time.Time, err error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, HeartbeatTable).Scan(&exists); err != nil || !exists {
		return nil, nil, err
	}
	err = conn.QueryRow(ctx, "SELECT (SELECT max(beat_at) FROM "+HeartbeatTable+" WHERE beat_at <= $1), (SELECT min(beat_at) FROM "+
		HeartbeatTable+" WHERE beat_at >= $2)", target.Add(-slack), target.Add(slack)).Scan(&before, &after)
	return before, after, err
}

// HasHeartbeat says whether the copy holds the heartbeat written at at.
func HasHeartbeat(ctx context.Context, conn *pgx.Conn, at time.Time) (bool, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, HeartbeatTable).Scan(&exists); err != nil || !exists {
		return false, err
	}
	var found bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM "+HeartbeatTable+" WHERE beat_at = $1)", at).Scan(&found)
	return found, err
}
