package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Every slot gets its job, whatever the timing of restarts, elections and
// leases: a daemon killed with SIGKILL around a slot (before, at, after)
// and started again half a second later; a daemon started a second before
// a slot; two replicas whose first dies just before a slot. Late is fine,
// skipped is not: the slot's job exists and succeeds.
func TestNoSlotLostToRestartsAndElections(t *testing.T) {
	t.Parallel()
	const period = 10 * time.Second
	for _, c := range []struct {
		name     string
		kill     time.Duration // when the first daemon dies, from the slot
		restart  time.Duration // when it starts again after dying (0: never)
		startAt  time.Duration // when the first daemon starts, from the slot (0: at once)
		replicas int
	}{
		{name: "killed 1.5 s before, back 0.5 s later", kill: -1500 * time.Millisecond, restart: 500 * time.Millisecond, replicas: 1},
		{name: "killed 0.5 s before, back 0.5 s later", kill: -500 * time.Millisecond, restart: 500 * time.Millisecond, replicas: 1},
		{name: "killed at the slot, back 0.5 s later", kill: 0, restart: 500 * time.Millisecond, replicas: 1},
		{name: "killed 0.5 s after, back 0.5 s later", kill: 500 * time.Millisecond, restart: 500 * time.Millisecond, replicas: 1},
		{name: "started 1.2 s before", startAt: -1200 * time.Millisecond, replicas: 1},
		{name: "two replicas, the first killed 0.3 s before", kill: -300 * time.Millisecond, replicas: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := serveEnv(t)
			env["BACKUP_SCHEDULE_CRON"] = "*/10 * * * * *"
			// The slot: the first one far enough away for a daemon to start.
			slot := time.Now().Add(6 * time.Second).Truncate(period).Add(period)
			if c.startAt != 0 {
				time.Sleep(time.Until(slot.Add(c.startAt)))
			}
			first := startServe(t, env)
			if c.replicas == 2 {
				startServe(t, env)
			}
			if c.startAt == 0 {
				time.Sleep(time.Until(slot.Add(c.kill)))
				_ = first.cmd.Process.Kill()
				<-first.exited
				if c.restart > 0 {
					time.Sleep(c.restart)
					startServe(t, env)
				}
			}
			conn, err := pgx.Connect(context.Background(), env["BACKUP_CATALOG_DATABASE_URL"])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			// The slot's run succeeded (its job, or the job that continued a
			// killed attempt of it) — or, when that continuation came after
			// the next slot's backup (a new leader is elected only once the
			// dead one's lease runs out), a job of the slot completed, having
			// found it covered by that newer success (the killed process's
			// job stays "running" until River rescues it, much later).
			waitFor(t, 60*time.Second, fmt.Sprintf("the run of slot %s to succeed", slot.Format(time.TimeOnly)), func() bool {
				var ok bool
				err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM backup_executions b JOIN river_job j
					ON j.kind = 'rgz.backup.pg_dump' AND j.args->>'run_id' = b.run_id::text
					WHERE b.status = 'success' AND (j.args->>'slot')::timestamptz = $1)
				OR (EXISTS (SELECT 1 FROM backup_executions WHERE status = 'success' AND backup_date >= $1::timestamptz AT TIME ZONE 'UTC')
					AND EXISTS (SELECT 1 FROM river_job WHERE kind = 'rgz.backup.pg_dump'
						AND (args->>'slot')::timestamptz = $1 AND state = 'completed'))`, slot).Scan(&ok)
				return err == nil && ok
			})
			var jobs int
			conn.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'rgz.backup.pg_dump'
				AND (args->>'slot')::timestamptz = $1 AND NOT args ? 'resumes'`, slot).Scan(&jobs)
			if jobs != 1 {
				t.Fatalf("%d jobs for the slot, want 1", jobs)
			}
		})
	}
}
