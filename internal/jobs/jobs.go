// Package jobs runs backups as River jobs in the catalog database: every
// slot of the schedules queued by every replica (slots.go), the catch-up
// of a slot no daemon was up for, manual enqueues, the retry policy, and
// recovery from a daemon that died mid-backup. River's unique jobs keep
// one job per slot whatever the number of replicas; the backup lock
// (package lock) keeps one backup running at a time.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

const (
	// Kind is the specification's job name.
	Kind = "rgz.backup.pg_dump"
	// Queue is the specification's rgz.maintenance: River allows no dot in a queue name.
	Queue = "rgz_maintenance"
)

// BackupArgs are a backup job's arguments. A scheduled or catch-up job
// names its slot, and the slot (with the target of its schedule) is
// unique among live and recently completed jobs: one job per slot,
// however many replicas insert it, on time or as a catch-up.
type BackupArgs struct {
	TriggeredBy catalog.Trigger `json:"triggered_by"`
	Slot        time.Time       `json:"slot,omitzero" river:"unique"`
	RunID       string          `json:"run_id"` // shared by the job's attempts, one row each
	// A job that continues the run of a job whose process died (Recover)
	// names that job, which keeps it apart from it among unique jobs, and
	// the attempts the run had spent: its attempts are numbered after them.
	Resumes        int64 `json:"resumes,omitempty" river:"unique"`
	AttemptsBefore int   `json:"attempts_before,omitempty"`
	// With several databases (issue 16), a job without Database starts a
	// run: it lists the databases of every server (or of Target alone)
	// and queues one job per database, each naming its Target and
	// Database and the run's Batch, whose summary tells the run.
	Target   string `json:"target,omitempty" river:"unique"`
	Database string `json:"database,omitempty" river:"unique"`
	Batch    string `json:"batch,omitempty"`
}

// attempt numbers the job's current River attempt across its run.
func (a BackupArgs) attempt(riverAttempt int) int { return a.AttemptsBefore + riverAttempt }

// Kind is River's name for the job.
func (BackupArgs) Kind() string { return Kind }

// InsertOpts puts every backup job on our queue with the specification's attempts.
func (BackupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: schedule.MaxAttempts}
}

// Client is River's client over the catalog database's pool.
type Client = river.Client[pgx.Tx]

// Options of the daemon's client.
type Options struct {
	Config   config.Config
	Fleet    *targets.Fleet // the servers, with several databases; nil: read from Config
	Store    *catalog.Store
	Log      *slog.Logger
	RiverLog *slog.Logger    // River's own logs
	Shutdown context.Context // its cancellation (with ErrShutdown) interrupts a running backup
	Clock    clock.Clock     // decides slots, skips and retries; the real clock when nil
	// Streaming are the servers whose WAL this daemon archives: each
	// gets its point-in-time restore test.
	Streaming []targets.Server
}

// NewClient builds the daemon's River client: one worker on our queue and
// one on the restore tests' queue, the daily retention job, the hourly S3
// archive job (with S3), the scheduled restore test (when enabled) and,
// when scheduled backups are enabled, the periodic backup job.
func NewClient(pool *pgxpool.Pool, o Options) (*Client, error) {
	cfg, clk := o.Config, clock.Or(o.Clock)
	fleet := o.Fleet
	if fleet == nil && cfg.Several() {
		var err error
		if fleet, err = targets.NewFleet(cfg, os.Getenv); err != nil {
			return nil, err
		}
	}
	d := deps{cfg, o.Store, o.Log, clk, fleet}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker{deps: d, shutdown: o.Shutdown}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &retentionWorker{deps: d}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &archiveWorker{deps: d}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &restoreTestWorker{deps: d}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &pitrRestoreTestWorker{deps: d, streaming: o.Streaming}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &notifyWorker{deps: d}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &summaryWorker{deps: d}); err != nil {
		return nil, err
	}
	// The backups' slots are not River's periodic jobs: every replica
	// makes sure of them (SlotKeeper), leader or not.
	periodic := append(maintenancePeriodics(cfg), restoreTestPeriodic(cfg, fleet)...)
	periodic = append(periodic, pitrTestPeriodic(cfg, o.Streaming)...)
	host, _ := os.Hostname()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:          fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().Unix()),
		Queues:      map[string]river.QueueConfig{Queue: {MaxWorkers: backupWorkers(cfg)}, RestoreTestQueue: {MaxWorkers: 1}, NotifyQueue: {MaxWorkers: 2}},
		Workers:     workers,
		MaxAttempts: schedule.MaxAttempts,
		// The backup's own timeout acts first and records the failed row;
		// River's is a backstop. A job still "running" after both and the
		// grace is one whose process died: River retries it.
		JobTimeout:                  cfg.Timeout + time.Minute,
		RescueStuckJobsAfter:        cfg.StuckJobRescue(),
		CompletedJobRetentionPeriod: finishedJobsKept,
		CancelledJobRetentionPeriod: finishedJobsKept,
		DiscardedJobRetentionPeriod: finishedJobsKept,
		Logger:                      o.RiverLog,
	})
	if err != nil {
		return nil, fmt.Errorf("job engine: %w", err)
	}
	// Added here rather than in the Config, whose refusal is a panic: a
	// schedule River refuses is an error that names it.
	if _, err := client.PeriodicJobs().AddManySafely(periodic); err != nil {
		return nil, fmt.Errorf("job engine: schedules: %w", err)
	}
	return client, nil
}

// NewInserter builds a client that only inserts jobs (backup --enqueue).
func NewInserter(pool *pgxpool.Pool) (*Client, error) {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("job engine: %w", err)
	}
	return client, nil
}

// backupWorkers is how many backups one replica runs at once: one for
// today's configuration; with several databases, the global limit (the
// slots in package lock hold it across replicas), and one more for the
// run that lists the databases.
func backupWorkers(cfg config.Config) int {
	if !cfg.Several() {
		return 1
	}
	return cfg.Databases.MaxParallel + 1
}

// uniquePerSlot keeps one job a slot (per target and database) in every
// state, finished ones included: a slot whose run failed after its retries
// (discarded) or for good (cancelled) is not run again by the keeper a
// minute later — it waits for the next slot, and the alert says so.
func uniquePerSlot() *river.InsertOpts {
	return &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: rivertype.JobStates()}}
}

// finishedJobsKept is how long River keeps finished jobs: the slots they
// hold stay taken (uniquePerSlot) for any schedule up to monthly.
const finishedJobsKept = 32 * 24 * time.Hour

// Enqueued names a job put on the queue.
type Enqueued struct {
	JobID int64  `json:"job_id"`
	RunID string `json:"run_id"`
}

// Enqueue puts a backup on the queue for the daemon (manual or api): with
// several databases, a run over every one.
func Enqueue(ctx context.Context, client *Client, triggeredBy catalog.Trigger) (Enqueued, error) {
	return EnqueueOf(ctx, client, triggeredBy, "", "")
}

// EnqueueOf puts a backup of one database on the queue, or a run over a
// target's databases (database empty), or over every target's (both empty).
func EnqueueOf(ctx context.Context, client *Client, triggeredBy catalog.Trigger, target, database string) (Enqueued, error) {
	args := BackupArgs{TriggeredBy: triggeredBy, RunID: uuid.NewString(), Target: target, Database: database}
	res, err := client.Insert(ctx, args, nil)
	if err != nil {
		return Enqueued{}, fmt.Errorf("enqueue backup: %w", err)
	}
	return Enqueued{JobID: res.Job.ID, RunID: args.RunID}, nil
}

// newestSuccess is the backup date of the newest successful backup; zero
// when there is none.
func newestSuccess(ctx context.Context, store *catalog.Store) (time.Time, error) {
	rows, err := store.List(ctx, catalog.Filter{Status: catalog.StatusSuccess, Limit: 1})
	if err != nil {
		return time.Time{}, err
	}
	if len(rows) == 0 {
		return time.Time{}, nil
	}
	return rows[0].BackupDate, nil
}

// oldestNewestOf is, over the databases of the servers a slot of
// target's schedule backs up (target "": the environment's schedule, the
// servers without one of their own), the oldest newest successful backup:
// zero when one has none, or a server cannot be reached.
func oldestNewestOf(ctx context.Context, store *catalog.Store, fleet *targets.Fleet, target string) (time.Time, error) {
	if fleet == nil {
		return time.Time{}, nil
	}
	var servers []targets.Server
	for _, s := range fleet.Servers() {
		if target != "" && s.Target == target || target == "" && s.Schedule == "" {
			servers = append(servers, s)
		}
	}
	units, down := targets.Plan(ctx, servers)
	if len(down) > 0 || len(units) == 0 {
		return time.Time{}, nil
	}
	var oldest time.Time
	for i, u := range units {
		newest, err := newestSuccessOf(ctx, store, u.Target, u.Database)
		if err != nil || newest.IsZero() {
			return time.Time{}, err
		}
		if i == 0 || newest.Before(oldest) {
			oldest = newest
		}
	}
	return oldest, nil
}

// ErrShutdown is why a backup the daemon cancelled at shutdown failed.
var ErrShutdown = errors.New("interrupted by shutdown")

// Queued is a backup job waiting or running.
type Queued struct {
	ID          int64           `json:"job_id"`
	State       string          `json:"state"` // available, scheduled, retryable, running
	TriggeredBy catalog.Trigger `json:"triggered_by"`
	Slot        time.Time       `json:"slot,omitzero"`
	RunID       string          `json:"run_id"`
	Target      string          `json:"target,omitempty"`   // with several databases
	Database    string          `json:"database,omitempty"` // empty: a run that lists the databases
	Attempt     int             `json:"attempt"`            // the attempt running, or the next one
	MaxAttempts int             `json:"max_attempts"`
	At          time.Time       `json:"at"` // when it runs (or started)
}

// List returns the backup jobs waiting or running, soonest first.
func List(ctx context.Context, client *Client) ([]Queued, error) {
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(Kind).
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStateRunning).
		OrderBy(river.JobListOrderByScheduledAt, river.SortOrderAsc).First(100))
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	out := []Queued{}
	for _, j := range res.Jobs {
		var args BackupArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			return nil, fmt.Errorf("job %d: %w", j.ID, err)
		}
		q := Queued{ID: j.ID, State: string(j.State), TriggeredBy: args.TriggeredBy, Slot: args.Slot, RunID: args.RunID, Target: args.Target, Database: args.Database,
			Attempt: args.attempt(j.Attempt + 1), MaxAttempts: args.AttemptsBefore + j.MaxAttempts, At: j.ScheduledAt}
		if j.State == rivertype.JobStateRunning {
			q.Attempt = args.attempt(j.Attempt)
			if j.AttemptedAt != nil {
				q.At = *j.AttemptedAt
			}
		}
		out = append(out, q)
	}
	return out, nil
}
