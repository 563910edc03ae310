package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/backuprun"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// With several databases (BACKUP_DATABASES or BACKUP_TARGETS_FILE), a
// backup job without a database starts a run: it lists every server's
// databases now and queues one backup job per database (its own lock,
// retries, timeout and row; one failing never stops the others), and a
// summary job that waits for them all and tells the run in one
// notification. How many run at once is bounded by the slots of package
// lock (BACKUP_MAX_PARALLEL_PER_SERVER, BACKUP_MAX_PARALLEL), which every
// replica shares.

// slotWait is how long a database's job waits for a free slot before it
// gives its worker back (snoozed, no attempt used).
const slotWait = time.Minute

// busySnooze is when a job that found no free slot tries again.
const busySnooze = 5 * time.Second

// SummaryKind waits for a run's backups and tells the run.
const SummaryKind = "rgz.backup.run_summary"

// SummaryArgs name a run's jobs, and the servers whose databases could
// not be listed (no job: the summary says why).
type SummaryArgs struct {
	Batch       string           `json:"batch" river:"unique"`
	Jobs        []int64          `json:"jobs"`
	Unreachable []unreachableArg `json:"unreachable,omitempty"`
}

type unreachableArg struct {
	Target string `json:"target"`
	Error  string `json:"error"`
}

// Kind is River's name for the job.
func (SummaryArgs) Kind() string { return SummaryKind }

// InsertOpts: on the notifications' queue; it waits by snoozing, which
// uses no attempt.
func (SummaryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: NotifyQueue, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// startRun lists the databases of every server (or of args.Target) and
// queues a job for each, and the run's summary.
func (w *worker) startRun(ctx context.Context, job *river.Job[BackupArgs]) error {
	args := job.Args
	servers, err := backuprun.Servers(w.fleet.Servers(), args.Target, !args.Slot.IsZero())
	if err != nil {
		return river.JobCancel(fmt.Errorf("target %s is no longer configured: %w", args.Target, err))
	}
	units, down := targets.Plan(ctx, servers)
	batch := args.RunID
	var params []river.InsertManyParams
	for _, u := range units {
		a := BackupArgs{TriggeredBy: args.TriggeredBy, Slot: args.Slot, RunID: uuid.NewString(), Target: u.Target, Database: u.Database, Batch: batch}
		var opts *river.InsertOpts
		if !args.Slot.IsZero() {
			opts = uniquePerSlot()
		}
		params = append(params, river.InsertManyParams{Args: a, InsertOpts: opts})
	}
	summary := SummaryArgs{Batch: batch}
	for _, d := range down {
		w.log.Error("a server's databases could not be listed: none of them is backed up this run", "target", d.Target, "error", d.Err)
		summary.Unreachable = append(summary.Unreachable, unreachableArg{Target: d.Target, Error: d.Err.Error()})
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	if len(params) > 0 {
		res, err := client.InsertMany(ctx, params)
		if err != nil {
			return fmt.Errorf("queue the run's backups: %w", err)
		}
		for _, r := range res {
			if !r.UniqueSkippedAsDuplicate { // another replica's run has it
				summary.Jobs = append(summary.Jobs, r.Job.ID)
			}
		}
	}
	if len(summary.Jobs) == 0 && len(summary.Unreachable) == 0 {
		w.log.Info("run started: nothing to back up", "batch", batch)
		return nil
	}
	if _, err := client.Insert(ctx, summary, nil); err != nil {
		return fmt.Errorf("queue the run's summary: %w", err)
	}
	w.log.Info("run started", "batch", batch, "databases", len(summary.Jobs), "unreachable_servers", len(summary.Unreachable))
	return nil
}

// runGlobals keeps each recent run's shared globals (backup.Globals), so
// that the jobs of one run on this replica dump each server's globals
// once; a job on another replica dumps its own. The few newest runs only.
type runGlobals struct {
	mu    sync.Mutex
	order []string
	runs  map[string]*backup.Globals
}

// keptRuns is how many runs' globals a replica keeps.
const keptRuns = 8

func (g *runGlobals) of(batch string) *backup.Globals {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.runs == nil {
		g.runs = map[string]*backup.Globals{}
	}
	if got := g.runs[batch]; got != nil {
		return got
	}
	if len(g.order) == keptRuns {
		delete(g.runs, g.order[0])
		g.order = g.order[1:]
	}
	g.runs[batch] = backup.NewGlobals()
	g.order = append(g.order, batch)
	return g.runs[batch]
}

// unitOf is the configuration a database's job runs with: its server's
// now, in its own directory.
func (w *worker) unitOf(args BackupArgs) (targets.Unit, error) {
	server, ok := w.fleet.Server(args.Target)
	if !ok {
		return targets.Unit{}, fmt.Errorf("target %s is no longer configured", args.Target)
	}
	units, err := targets.Units(server.Config, args.Target, []string{args.Database})
	if err != nil {
		return targets.Unit{}, err
	}
	return units[0], nil
}

// newestSuccessOf is the backup date of a database's newest successful
// backup; zero when there is none.
func newestSuccessOf(ctx context.Context, store *catalog.Store, target, database string) (time.Time, error) {
	rows, err := store.List(ctx, catalog.Filter{Status: catalog.StatusSuccess, Target: target, Database: database, Limit: 1})
	if err != nil || len(rows) == 0 {
		return time.Time{}, err
	}
	return rows[0].BackupDate, nil
}

// ownSchedules makes a periodic job for each server with a schedule of its
// own (spec: which one), parsed.
func ownSchedules(servers []targets.Server, spec func(targets.Server) string, job func(schedule.Schedule, string) *river.PeriodicJob) []*river.PeriodicJob {
	var out []*river.PeriodicJob
	for _, s := range servers {
		if spec(s) == "" {
			continue
		}
		sched, err := schedule.Parse(spec(s))
		if err != nil {
			continue // the targets file was checked when read
		}
		out = append(out, job(sched, s.Target))
	}
	return out
}

type summaryWorker struct {
	river.WorkerDefaults[SummaryArgs]
	deps
}

// finished are the states a job leaves no more.
var finished = []rivertype.JobState{rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded}

// Work waits (snoozing) until every job of the run is over, then runs the
// missing copies and retention once, and tells the run in one
// notification: each database's last row, and the servers that could not
// be reached.
func (w *summaryWorker) Work(ctx context.Context, job *river.Job[SummaryArgs]) error {
	client := river.ClientFromContext[pgx.Tx](ctx)
	var outcomes []backuprun.Outcome
	if len(job.Args.Jobs) > 0 {
		res, err := client.JobList(ctx, river.NewJobListParams().IDs(job.Args.Jobs...).First(len(job.Args.Jobs)))
		if err != nil {
			return fmt.Errorf("list the run's jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if !slices.Contains(finished, j.State) {
				return river.JobSnooze(busySnooze)
			}
		}
		for _, j := range res.Jobs {
			args, err := decodeBackupArgs(j)
			if err != nil {
				return err
			}
			attempts, err := w.store.RunAttempts(ctx, args.RunID)
			if err != nil {
				return err
			}
			if len(attempts) == 0 {
				continue // skipped (its database was fresh), or never started
			}
			outcomes = append(outcomes, backuprun.Outcome{Target: args.Target, Database: args.Database, Row: attempts[len(attempts)-1]})
		}
	}
	for _, u := range job.Args.Unreachable {
		outcomes = append(outcomes, backuprun.Unreachable(u.Target, errors.New(u.Error)))
	}
	rows := backuprun.Rows(outcomes)
	if backuprun.AnyGood(rows) {
		AfterBackup(ctx, w.store, w.cfg, w.clock, w.log)
		for i, o := range outcomes { // a partial backup may have been healed meanwhile
			if now, err := w.store.Get(ctx, o.Row.ID); o.Row.ID != "" && err == nil {
				outcomes[i].Row = now
			}
		}
		rows = backuprun.Rows(outcomes)
	}
	event, ok := backuprun.Event(rows, hostname(), w.serverOf)
	if !ok {
		return nil
	}
	event.NextRun = w.nextRunOf(rows[0].TargetName)
	w.log.Info("run over", "batch", job.Args.Batch, "databases", len(rows), "event", event.Kind)
	w.Notify(ctx, event)
	return nil
}

// decodeBackupArgs reads a backup job's arguments.
func decodeBackupArgs(j *rivertype.JobRow) (BackupArgs, error) {
	var args BackupArgs
	if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
		return args, fmt.Errorf("job %d: %w", j.ID, err)
	}
	return args, nil
}

// PeriodicID names the periodic job of kind for one target: KIND:TARGET
// (River takes letters, digits, _ - [ ] < > / . · : + in an id, and a
// target's name is [a-z0-9_-]), so that a reload can replace it.
func PeriodicID(kind, target string) string { return kind + ":" + target }

// OwnPeriodics are the periodic jobs of the servers with schedules of
// their own: their restore tests, when restore tests are enabled (their
// backups' slots are the SlotKeeper's, which reads the targets anew).
func OwnPeriodics(cfg config.Config, servers []targets.Server) []*river.PeriodicJob {
	if !cfg.RestoreTest.Enabled {
		return nil
	}
	return targetRestoreTests(servers)
}

// Reschedule replaces the scheduled restore tests of the servers with
// schedules of their own, after the targets were read again. When River
// refuses the new ones, the old ones are put back and the error says why:
// a reload never leaves the daemon without its schedules, nor takes it
// down.
func Reschedule(client *Client, cfg config.Config, before, after []targets.Server) error {
	remove := func(servers []targets.Server) {
		for _, s := range servers {
			client.PeriodicJobs().RemoveByID(PeriodicID(RestoreTestKind, s.Target))
		}
	}
	remove(before)
	if _, err := client.PeriodicJobs().AddManySafely(OwnPeriodics(cfg, after)); err != nil {
		remove(after)
		if _, rerr := client.PeriodicJobs().AddManySafely(OwnPeriodics(cfg, before)); rerr != nil {
			return fmt.Errorf("the new schedules were refused (%w), and the old ones could not be put back: %v", err, rerr)
		}
		return fmt.Errorf("the new schedules were refused: %w", err)
	}
	return nil
}
