package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/recovery"
	"github.com/mosaique/rgz-backup/internal/schedule"
)

// Recover cleans up after a daemon that died mid-backup, at start: when no
// backup runs anywhere (the backup lock is free), it removes temporary
// files, records abandoned attempts (recovery.Abandoned), and puts
// their jobs, which River still sees running, back on the queue after the
// usual retry delay. When a backup holds the lock, it is alive, and there is
// nothing to recover now; that backup's own start recovers any other.
func Recover(ctx context.Context, pool *pgxpool.Pool, store *catalog.Store, cfg config.Config, clk clock.Clock, log *slog.Logger) error {
	release, err := lock.Both(ctx, cfg.LocalDir, cfg.Catalog)
	var held *lock.HeldError
	if errors.As(err, &held) {
		log.Info("a backup is running: no recovery needed now", "holder", held.Holder)
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	abandoned, err := recovery.Abandoned(ctx, store, cfg.LocalDir, clk.Now(), log)
	if err != nil {
		return err
	}
	for _, a := range abandoned {
		if a.JobID == 0 {
			continue
		}
		state, err := retryAbandoned(ctx, pool, a, cfg.RetryDelays)
		if err != nil {
			return err
		}
		if state != "" {
			log.Warn("the abandoned attempt's job goes back on the queue", "job_id", a.JobID, "attempt", a.Execution.Attempt, "state", state)
		}
	}
	return nil
}

// retryAbandoned ends an abandoned attempt in River's table as River ends a
// failed one: the job becomes retryable after the retry delay, or discarded
// when it has no attempt left, with the reason among its errors. A job
// River has already rescued (or that has moved on) is left alone. It
// returns the job's new state, or "" when it was left alone.
func retryAbandoned(ctx context.Context, pool *pgxpool.Pool, a catalog.Attempt, delays []time.Duration) (string, error) {
	delay, _ := schedule.RetryDelay(a.Execution.Attempt, delays)
	reason, err := json.Marshal(rivertype.AttemptError{At: time.Now().UTC(), Attempt: a.Execution.Attempt,
		Error: "abandoned: the process running this attempt stopped before it finished"})
	if err != nil {
		return "", err
	}
	var state string
	err = pool.QueryRow(ctx, `
		UPDATE river_job SET
			state        = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END::river_job_state,
			scheduled_at = CASE WHEN attempt >= max_attempts THEN scheduled_at ELSE now() + $3 * interval '1 microsecond' END,
			finalized_at = CASE WHEN attempt >= max_attempts THEN now() END,
			errors       = array_append(errors, $4::jsonb)
		WHERE id = $1 AND attempt = $2 AND state = 'running' AND kind = $5
		RETURNING state::text`,
		a.JobID, a.Execution.Attempt, delay.Microseconds(), reason, Kind).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("requeue job %d: %w", a.JobID, err)
	}
	return state, nil
}
