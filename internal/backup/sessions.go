package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
)

// SessionName is the application_name of every server session one run
// opens on the backed-up server (pg_dump, pg_dumpall, the snapshot and its
// row counts), shared by the run's attempts: how endSessions finds them,
// and how a DBA recognises them in pg_stat_activity.
func SessionName(runID string) string { return "rgz-backup run " + runID }

// LockWait is how long a run's sessions may wait for a table lock, given
// the time the attempt has left: most of it, so that a table locked by
// someone else fails the attempt with "could not obtain lock" before the
// timeout, instead of queueing until it is killed. No deadline: no bound.
func LockWait(remaining time.Duration, hasDeadline bool) time.Duration {
	if !hasDeadline {
		return 0
	}
	return max(remaining*8/10, time.Millisecond)
}

func lockWaitOf(ctx context.Context) time.Duration {
	deadline, ok := ctx.Deadline()
	return LockWait(time.Until(deadline), ok)
}

// endSessions terminates the server sessions named name that are still
// there, and waits (a few seconds at most) until they are gone. A pg_dump
// killed while it waits for a lock leaves its session queued behind the
// lock, holding the locks it already took, so that DDL on those tables
// blocks until the session ends; we end it. Our own role may terminate
// its own sessions without any privilege.
func endSessions(ctx context.Context, db config.Database, name string) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	conn, err := dbconn.Connect(ctx, db, "rgz-backup cleanup")
	if err != nil {
		return 0, fmt.Errorf("connect to end the run's sessions: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ended int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, name).Scan(&ended)
	if err != nil {
		return 0, fmt.Errorf("end the run's sessions: %w", err)
	}
	for ended > 0 {
		var left int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, name).Scan(&left); err != nil {
			return ended, fmt.Errorf("end the run's sessions: %w", err)
		}
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ended, fmt.Errorf("%d sessions of the run still there after termination", left)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return ended, nil
}

// limitLockWait makes the snapshot's own statements (the row counts) give up
// waiting for a lock as pg_dump does.
func limitLockWait(ctx context.Context, tx pgx.Tx, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	_, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(wait.Milliseconds(), 1)))
	return err
}
