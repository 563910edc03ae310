package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A daemon is listed while it refreshes its row, with its plan; one that
// stopped is gone at once, one that died once its row is 30 s old.
func TestDaemonsAreTheLiveOnes(t *testing.T) {
	t.Parallel()
	s, url := migratedStore(t)
	ctx := context.Background()
	next := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	a := Daemon{Host: "rgz-1", PID: 41, StartedAt: time.Date(2026, 2, 28, 8, 0, 0, 0, time.UTC), Version: "v1.4.0",
		Plan: Plan{Schedule: "0 3 * * *", ScheduleEnabled: true, NextRun: &next, Targets: []TargetPlan{{Target: "site-b", Schedule: "30 4 * * *"}}}}
	b := Daemon{Host: "rgz-2", PID: 42, StartedAt: a.StartedAt.Add(time.Minute), Version: "v1.4.0", Plan: Plan{Schedule: "0 3 * * *"}}
	for _, d := range []Daemon{a, b, a} { // a refreshed: still one row
		if err := s.SeeDaemon(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	live, err := s.Daemons(ctx)
	if err != nil || len(live) != 2 || live[0].Host != "rgz-1" || live[0].Plan.NextRun == nil || !live[0].Plan.NextRun.Equal(next) ||
		len(live[0].Plan.Targets) != 1 || live[0].Plan.Targets[0].Target != "site-b" || live[1].Plan.ScheduleEnabled {
		t.Fatalf("daemons: %+v, %v", live, err)
	}
	if err := s.DaemonGone(ctx, b); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE backup_daemons SET seen_at = now() - interval '31 seconds'`); err != nil {
		t.Fatal(err)
	}
	if live, err := s.Daemons(ctx); err != nil || len(live) != 0 {
		t.Fatalf("a stopped daemon and one unseen for 31 s: %+v, %v", live, err)
	}
}
