package jobs

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
)

func TestOutcome(t *testing.T) {
	t.Parallel()
	failed := errors.New("pg_dump exited 1")
	cases := []struct {
		name string
		err  error
		want string // snooze, cancel, retry
	}{
		{"another backup holds the lock", fmt.Errorf("x: %w", &lock.HeldError{Holder: "pid 1"}), "snooze"},
		{"pg_dump older than the server", fmt.Errorf("snapshot: %w", backup.ErrClientTooOld), "cancel"},
		{"bad configuration", &config.Error{Var: "BACKUP_LOCAL_DIR"}, "cancel"},
		{"any other failure", failed, "retry"},
		{"timeout", fmt.Errorf("timeout after 600s: %w", failed), "retry"},
		{"shutdown", fmt.Errorf("%w: %w", ErrShutdown, failed), "retry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := outcome(c.err, []time.Duration{15 * time.Second, 30 * time.Second, time.Minute})
			var snooze *river.JobSnoozeError
			var cancel *river.JobCancelError
			kind := "retry"
			switch {
			case errors.As(got, &snooze):
				kind = "snooze"
				if snooze.Duration != 15*time.Second {
					t.Errorf("snoozed %s, want the first retry delay", snooze.Duration)
				}
			case errors.As(got, &cancel):
				kind = "cancel"
			}
			if kind != c.want || (kind == "retry" && got != c.err) {
				t.Fatalf("%v → %v (%s), want %s", c.err, got, kind, c.want)
			}
		})
	}
}
