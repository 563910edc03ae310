package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/backuprun"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/metrics"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/plan"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/targets"
)

func backupCmd() *cobra.Command {
	var asJSON, enqueue bool
	var database, target string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Take one backup now, in this process (or --enqueue it for the daemon)",
		Long: `Take one backup now: lock, check free space and versions, dump inside an
exported snapshot, compress and checksum in one pass, validate, publish
atomically, write the .sha256, .manifest.json and globals sidecars, and
record the attempt in the catalog. Progress is shown on a terminal. After
a good backup, it is copied to S3 when BACKUP_S3_ENABLED (a failed copy
leaves the backup "partial", healed by ` + "`rgz-backup archive`" + `), and
retention runs (see ` + "`rgz-backup retention`" + `).

With --json, stdout holds exactly one JSON object: the catalog row (also
for a failed attempt). When nothing was recorded (lock held, catalog
unreachable) stdout is empty and stderr says why.

With --enqueue, the backup is put on the daemon's queue instead (a running
` + "`rgz-backup serve`" + ` takes it, with the daemon's retries) and the job id is
printed; no daemon is needed without it.

With BACKUP_DATABASES or BACKUP_TARGETS_FILE, every database selected on
every server is backed up, each a backup of its own in
BACKUP_LOCAL_DIR/TARGET/DATABASE (the environment's server is the target
"default"), BACKUP_MAX_PARALLEL_PER_SERVER at once on a server and
BACKUP_MAX_PARALLEL in all; a table says how each went (with --json: an
array of the rows), one mail tells the run, and the exit status is 1 if
any failed. --database NAME (and --target NAME, with several servers)
takes one of them; with --enqueue the daemon runs them.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			switch {
			case cfg.Several() && enqueue:
				return enqueueBackup(cmd, cfg, target, database, asJSON)
			case cfg.Several():
				return backupSeveral(cmd, cfg, target, database, asJSON)
			case target != "" && target != targets.DefaultTarget:
				return &config.Error{Var: "--target", Value: target, Allowed: "needs BACKUP_TARGETS_FILE (one server: the target default)"}
			case database != "" && database != cfg.Database.Name():
				return &config.Error{Var: "--database", Value: database, Allowed: "must be the database configured, " + cfg.Database.Name() + " (several: BACKUP_DATABASES)"}
			}
			if enqueue {
				return enqueueBackup(cmd, cfg, "", "", asJSON) // today's one database
			}
			opts := backup.Options{Config: cfg, TriggeredBy: catalog.TriggerManual, Log: logger(cfg)}
			progress := newProgressLine(os.Stderr)
			opts.Progress = progress.show
			row, err := backup.Run(cmd.Context(), opts)
			progress.clear()
			if err == nil {
				afterBackup(cmd.Context(), cfg, opts.Log)
			}
			if row.ID != "" && backuprun.Told(err, true) { // the CLI's one attempt is its last
				host, _ := os.Hostname()
				e := notify.ForBackup(backup.Reported(row, err), host, cfg.Database.Server())
				e.NextRun = daemonsNextRun(cmd.Context(), cfg)
				tell(cmd.Context(), cfg, e, opts.Log)
			}
			writeTextfile(cmd.Context(), cfg, opts.Log)
			if row.ID != "" {
				if perr := printRow(cmd.OutOrStdout(), row, asJSON); perr != nil && err == nil {
					err = perr
				}
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog row (with --enqueue: the job) as one JSON object")
	cmd.Flags().BoolVar(&enqueue, "enqueue", false, "put the backup on the daemon's queue and print the job id")
	cmd.Flags().StringVar(&database, "database", "", "with several databases: back up this one database only")
	cmd.Flags().StringVar(&target, "target", "", "with BACKUP_TARGETS_FILE: back up this server's databases only")
	return cmd
}

// afterBackup runs what follows a good backup, as the daemon does: the
// S3 copies still missing, then retention. Problems are logged; the
// backup itself stands.
func afterBackup(ctx context.Context, cfg config.Config, log *slog.Logger) {
	store, err := openCatalog(ctx, cfg)
	if err != nil {
		log.Error("retention after the backup skipped", "error", err)
		return
	}
	defer store.Close()
	jobs.AfterBackup(ctx, store, cfg, clock.Real, log)
}

// daemonsNextRun is the running daemons' next scheduled backup, for the
// mail's Next line; zero when no daemon runs or none schedules one (the
// line is then left out: this shell's schedule runs nowhere).
func daemonsNextRun(ctx context.Context, cfg config.Config) time.Time {
	store, err := openCatalog(ctx, cfg)
	if err != nil {
		return time.Time{}
	}
	defer store.Close()
	daemons, err := store.Daemons(ctx)
	if err != nil {
		return time.Time{}
	}
	return plan.Earliest(daemons, time.Now())
}

// tell sends a notification now; if that fails, it is queued for a
// running daemon to retry, so that a mail server outage loses nothing.
func tell(ctx context.Context, cfg config.Config, e notify.Event, log *slog.Logger) {
	if notify.Unsent(cfg.Notify, e.Kind) != "" {
		return
	}
	sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := notify.Deliver(sendCtx, cfg.Notify, e)
	if err == nil {
		return
	}
	qerr := withQueue(ctx, cfg, func(_ *catalog.Store, client *jobs.Client) error {
		return jobs.EnqueueNotify(ctx, client, e, time.Now())
	})
	if qerr != nil {
		log.Error("notification not sent, nor queued", "event", e.Kind, "error", err, "queue_error", qerr)
		return
	}
	log.Warn("notification not sent now; queued for the daemon to retry", "event", e.Kind, "error", err)
}

// writeTextfile writes BACKUP_METRICS_TEXTFILE, when set, for
// node_exporter: the same metrics the daemon serves. A failure is logged.
func writeTextfile(ctx context.Context, cfg config.Config, log *slog.Logger) {
	if cfg.MetricsTextfile == "" {
		return
	}
	store, err := openCatalog(ctx, cfg)
	if err != nil {
		log.Error("metrics textfile not written", "error", err)
		return
	}
	defer store.Close()
	if err := metrics.WriteTextfile(cfg.MetricsTextfile, metrics.Registry(metrics.Collector{Store: store, Cfg: cfg, Log: log})); err != nil {
		log.Error("metrics textfile not written", "error", err)
	}
}

func printRow(w io.Writer, row catalog.Execution, asJSON bool) error {
	if asJSON {
		return printJSON(w, row)
	}
	_, err := fmt.Fprint(w, report.Text(row))
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progressLine rewrites one line of a terminal; it prints nothing when the
// output is not a terminal (a log file, a pipe).
type progressLine struct {
	w     io.Writer
	tty   bool
	shown bool
}

func newProgressLine(f *os.File) *progressLine {
	return &progressLine{w: f, tty: term.IsTerminal(int(f.Fd()))}
}

func (p *progressLine) show(pr backup.Progress) {
	if !p.tty {
		return
	}
	rate := float64(pr.RawBytes) / max(pr.Elapsed.Seconds(), 0.001)
	fmt.Fprintf(p.w, "\r\033[K  pg_dump %s read, %s written, %s/s, %s elapsed",
		report.Bytes(pr.RawBytes), report.Bytes(pr.StoredBytes), report.Bytes(int64(rate)), pr.Elapsed.Truncate(time.Second))
	p.shown = true
}

func (p *progressLine) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
