package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/targets"
	"github.com/mosaique/rgz-backup/internal/wal"
)

func pitrCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pitr",
		Short: "Point-in-time recovery: the WAL archive and its base backups (docs/PITR.md)",
		Long: `Point-in-time recovery keeps, beside the nightly dumps, a physical archive
of the whole server: base backups and a continuous stream of its WAL, that
serve keeps with BACKUP_PITR_ENABLED=true, or for each server of the
targets file that says pitr: true (docs/PITR.md). When several servers
stream, --target NAME says which one a command acts on.`,
	}
	cmd.PersistentFlags().StringVar(&pitrTarget, "target", "", "the targets file's server (BACKUP_TARGETS_FILE) when several stream")
	cmd.AddCommand(pitrBaseBackupCmd(), pitrWindowCmd(), pitrRestoreCmd(), pitrWALFetchCmd(), pitrRetentionCmd(), pitrStatusCmd())
	return cmd
}

// pitrTarget is the pitr commands' --target.
var pitrTarget string

// pitrConfig is the configuration of the server that streams (--target
// names it when the targets file has several), refused when none does.
func pitrConfig() (config.Config, error) {
	cfg, err := loadConfig()
	if err != nil {
		return cfg, err
	}
	servers, err := targets.Servers(cfg, os.Getenv)
	if err != nil {
		return cfg, err
	}
	return chooseStreaming(cfg, servers)
}

// pitrReadConfig is the configuration the archive is read with (window,
// restore, wal-fetch): pitrConfig's, without the server's password (the
// server may be gone), or the environment's when no server streams (a
// host that restores and does not stream).
func pitrReadConfig() (config.Config, error) {
	cfg, err := loadConfig()
	if err != nil {
		return cfg, err
	}
	servers, err := targets.Settings(cfg)
	if err != nil {
		return cfg, err
	}
	if pitrTarget == "" && len(targets.Streaming(servers)) == 0 {
		return cfg, nil
	}
	return chooseStreaming(cfg, servers)
}

func chooseStreaming(cfg config.Config, servers []targets.Server) (config.Config, error) {
	s, err := targets.ChooseStreaming(servers, pitrTarget)
	switch {
	case err == nil:
		return s.Config, nil
	case pitrTarget == "" && len(targets.Streaming(servers)) == 0:
		return cfg, &config.Error{Var: "BACKUP_PITR_ENABLED", Value: "false",
			Allowed: "must be true (or pitr: true for a target of the targets file): base backups and restores belong to the point-in-time recovery archive (docs/PITR.md)"}
	}
	return cfg, &config.Error{Var: "--target", Value: pitrTarget, Allowed: err.Error()}
}

// pitrCatalog is pitrConfig and the catalog, open.
func pitrCatalog(cmd *cobra.Command) (config.Config, *catalog.Store, error) {
	cfg, err := pitrConfig()
	if err != nil {
		return cfg, nil, err
	}
	store, err := openCatalog(cmd.Context(), cfg)
	return cfg, store, err
}

func pitrBaseBackupCmd() *cobra.Command {
	var asJSON, enqueue bool
	cmd := &cobra.Command{
		Use:   "base-backup [--enqueue] [--json]",
		Short: "Take a base backup of the server now (or ask the daemon for one)",
		Long: `Take a base backup of the server now: pg_basebackup (plain format, its WAL
included, a manifest with SHA-256 checksums) into BACKUP_LOCAL_DIR/.pitr-work,
checked by pg_verifybackup, packed as one tar, compressed, encrypted with
BACKUP_ENCRYPTION_RECIPIENTS when set, read back whole, and copied to the
backup directory's pitr/ folder and every destination, each copy verified.
The catalog's pitr_base_backups row says what happened. One base backup of
a server at a time (exit 75 while another is taken). serve takes them on
its own: the first as soon as it streams, then per BACKUP_PITR_BASE_SCHEDULE.

--enqueue asks the running daemon instead, which takes it within seconds.
--json prints the catalog's row. Exits 1 when the base backup fails.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := pitrCatalog(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			ctx := cmd.Context()
			a := &pitr.Archive{Config: cfg, Server: cfg.Database, Catalog: store, Tools: dump.Tools{BinDir: cfg.PgBinDir}, Log: logger(cfg)}
			if enqueue {
				srv, err := pitr.Inspect(ctx, cfg.Database)
				if err != nil {
					return err
				}
				host, _ := os.Hostname()
				id, err := store.RequestBaseBackup(ctx, srv.SystemID, time.Now().UTC(), host, os.Getpid())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "asked the daemon for a base backup of cluster %d (request %s)\n", srv.SystemID, id)
				return nil
			}
			row, err := a.BaseBackup(ctx)
			if err != nil && row.Status == "" {
				return err // nothing was started
			}
			if asJSON {
				if perr := printJSON(cmd.OutOrStdout(), row); perr != nil {
					return perr
				}
			} else {
				printBaseBackup(cmd, row)
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog's row as JSON")
	cmd.Flags().BoolVar(&enqueue, "enqueue", false, "ask the running daemon for the base backup")
	return cmd
}

func printBaseBackup(cmd *cobra.Command, b catalog.BaseBackup) {
	out := cmd.OutOrStdout()
	if b.Status != "success" {
		fmt.Fprintf(out, "base backup %s FAILED: %s\n", b.Label, b.Error)
		return
	}
	fmt.Fprintf(out, "base backup %s of cluster %d: timeline %d, WAL %s to %s, PostgreSQL %s\n",
		b.Label, b.SystemID, b.Timeline, b.StartLSN, b.EndLSN, b.ServerVersion)
	fmt.Fprintf(out, "%s (%s stored) at %s, in %s\n", humanize.IBytes(uint64(b.RawSize)), humanize.IBytes(uint64(b.StoredSize)),
		b.ObjectKey, strings.Join(b.Copies, ", "))
}

func pitrWindowCmd() *cobra.Command {
	var asJSON bool
	var systemID uint64
	cmd := &cobra.Command{
		Use:   "window [--json] [--system-id ID]",
		Short: "Print what the archive can restore: from when to when, from which base backup",
		Long: `Print the restorable window of each good base backup of the cluster (the
one the archive holds; --system-id chooses when it holds several): any
moment from the base backup's end to the end of the WAL that the catalog
records without a gap after it. A window that ends in a partial copy of
the segment being written ends at the last copy (every
BACKUP_PITR_SHIP_SECONDS). --json prints the windows as JSON.

When the catalog cannot be reached, the places' listings and the JSON
sidecar beside each base backup say what the archive holds; the end of
each window is then the end of its WAL, at a time unknown.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := pitrReadConfig()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store := openCatalogOrPlaces(ctx, cfg)
			if store != nil {
				defer store.Close()
			}
			arch, id, err := pitr.Load(ctx, cfg, store, systemID)
			if err != nil {
				return err
			}
			windows := arch.Windows()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), pitr.WindowsJSON(id, windows))
			}
			out := cmd.OutOrStdout()
			if len(windows) == 0 {
				fmt.Fprintf(out, "cluster %d: nothing restorable yet (no base backup whose WAL the archive holds)\n", id)
				return nil
			}
			fmt.Fprintf(out, "cluster %d restores to any moment:\n", id)
			for _, w := range windows {
				fmt.Fprintf(out, "  from %s to %s  timeline %d, LSN %s to %s, base backup %s\n",
					w.From.UTC().Format(time.RFC3339), pitrplan.EndText(w), w.Timeline, w.FromLSN, w.ToLSN, w.Base.Label)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the windows as JSON")
	cmd.Flags().Uint64Var(&systemID, "system-id", 0, "the cluster (its system identifier); required when the archive holds several")
	return cmd
}

// openCatalogOrPlaces is the catalog, or nil when it cannot be reached
// (said on stderr): the places' listings then say what the archive holds.
func openCatalogOrPlaces(ctx context.Context, cfg config.Config) *catalog.Store {
	openCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := openCatalog(openCtx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rgz-backup: catalog unreachable (%v): reading the archive's places\n", err)
		return nil
	}
	return store
}

func pitrRestoreCmd() *cobra.Command {
	var to, toLSN, dataDir string
	var port int
	var pause, asJSON bool
	var systemID uint64
	cmd := &cobra.Command{
		Use:   "restore --to TIME|--to latest|--to-lsn LSN --data-dir DIR [--port P] [--pause] [--json]",
		Short: "Restore the whole server to a moment, into a new data directory, and start it",
		Long: `Restore the cluster (the one the archive holds; --system-id chooses
when it holds several) to a moment: --to TIME (RFC 3339, e.g.
2026-12-06T14:03:00Z; without a zone, UTC), --to-lsn LSN, or --to latest (the
end of the archive, its last partial copy included). It chooses the newest
base backup before the target, and refuses, before touching anything, a
target outside the restorable window (rgz-backup pitr window), naming the
window.

It then fetches the base backup from the first place holding a copy whose
SHA-256 matches the catalog, unpacks it into --data-dir (which must not
exist or be empty), writes the recovery settings (restore_command runs
rgz-backup pitr wal-fetch; archive_mode off, so that the copy never archives
into the production archive), starts PostgreSQL on --port (default 5433,
listening on localhost and a socket in the data directory), waits until
recovery reaches the target, and promotes it — or, with --pause (which
needs --to TIME or --to-lsn), leaves it paused there, read-only, for
inspection. It prints what it reached (LSN,
time of the last transaction replayed, timeline), how long it took, and
the command that stops the cluster.

When the catalog cannot be reached, the places' listings and the base
backups' sidecars say what the archive holds (a target time after the end
of the WAL is then refused by PostgreSQL, and reported).

PostgreSQL refuses to run as root: run it as the user that will own the
cluster (for example sudo -u postgres), with the daemon's environment.
Exits 1 when the restore fails.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := pitrReadConfig()
			if err != nil {
				return err
			}
			target, err := parseTarget(to, toLSN)
			if err != nil {
				return err
			}
			if pause && target.Latest {
				// Without a target, PostgreSQL promotes at the end of the WAL.
				return &config.Error{Var: "--pause", Value: "true", Allowed: "needs a target (--to TIME or --to-lsn): at the end of the WAL, PostgreSQL promotes"}
			}
			if dataDir == "" {
				return &config.Error{Var: "--data-dir", Value: "", Allowed: "a new directory for the restored cluster is required"}
			}
			if port < 1 || port > 65535 {
				return &config.Error{Var: "--port", Value: fmt.Sprint(port), Allowed: "must be from 1 to 65535"}
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store := openCatalogOrPlaces(ctx, cfg)
			if store != nil {
				defer store.Close()
			}
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			res, err := pitr.Restore(ctx, pitr.RestoreOptions{Config: cfg, Catalog: store, SystemID: systemID, Target: target,
				DataDir: abs, Port: port, Pause: pause, Self: self, ServerTarget: pitrTarget, Tools: dump.Tools{BinDir: cfg.PgBinDir}, Log: logger(cfg)})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			out := cmd.OutOrStdout()
			state := "promoted: it accepts writes"
			if res.Paused {
				state = "paused at the target: read-only; SELECT pg_wal_replay_resume() promotes it"
			}
			reachedAt := "no transaction replayed"
			if res.ReachedTime != nil {
				reachedAt = "last transaction replayed " + res.ReachedTime.UTC().Format(time.RFC3339Nano)
			}
			fmt.Fprintf(out, "restored cluster %d to %s from base backup %s\n", res.SystemID, res.Target, res.BaseBackup)
			fmt.Fprintf(out, "reached LSN %s on timeline %d (%s)\n", res.ReachedLSN, res.Timeline, reachedAt)
			fmt.Fprintf(out, "base backup fetched in %.1f s, WAL replayed in %.1f s\n", res.FetchSeconds, res.ReplaySeconds)
			fmt.Fprintf(out, "running on port %d, data in %s, %s\n", res.Port, res.DataDir, state)
			fmt.Fprintf(out, "stop it with: %s\n", res.StopCommand)
			return nil
		}),
	}
	cmd.Flags().StringVar(&to, "to", "", "the moment to restore to (RFC 3339; without a zone, UTC), or latest")
	cmd.Flags().StringVar(&toLSN, "to-lsn", "", "the WAL position to restore to (e.g. 0/3000148)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the new data directory (must not exist, or be empty)")
	cmd.Flags().IntVar(&port, "port", 5433, "the port the restored cluster listens on")
	cmd.Flags().BoolVar(&pause, "pause", false, "leave the cluster paused at the target (read-only) instead of promoting it")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was reached as JSON")
	cmd.Flags().Uint64Var(&systemID, "system-id", 0, "the cluster (its system identifier); required when the archive holds several")
	return cmd
}

// parseTarget reads --to and --to-lsn: exactly one of them.
func parseTarget(to, toLSN string) (pitrplan.Target, error) {
	switch {
	case to != "" && toLSN != "":
		return pitrplan.Target{}, &config.Error{Var: "--to-lsn", Value: toLSN, Allowed: "give --to or --to-lsn, not both"}
	case toLSN != "":
		lsn, err := wal.ParseLSN(toLSN)
		if err != nil {
			return pitrplan.Target{}, &config.Error{Var: "--to-lsn", Value: toLSN, Allowed: "must be an LSN, like 0/3000148"}
		}
		return pitrplan.Target{LSN: lsn}, nil
	case to == "latest":
		return pitrplan.Target{Latest: true}, nil
	case to == "":
		return pitrplan.Target{}, &config.Error{Var: "--to", Value: "", Allowed: "--to TIME, --to latest or --to-lsn LSN is required"}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, to); err == nil {
			return pitrplan.Target{Time: t.UTC()}, nil
		}
	}
	return pitrplan.Target{}, &config.Error{Var: "--to", Value: to, Allowed: "must be a moment (RFC 3339, like 2026-12-06T14:03:00Z) or latest"}
}

func pitrWALFetchCmd() *cobra.Command {
	var systemID uint64
	cmd := &cobra.Command{
		Use:   "wal-fetch --system-id ID FILE DEST",
		Short: "Fetch one WAL file from the archive (PostgreSQL's restore_command)",
		Long: `Fetch the archived WAL file FILE (a segment, else its partial copy, or a
timeline history file) of cluster ID into DEST, as PostgreSQL's
restore_command asks: rgz-backup pitr restore writes
restore_command = 'rgz-backup pitr wal-fetch --system-id ID %f %p'.
The file is found in the catalog (or, when the catalog cannot be reached,
under each name the archive may have given it), read from the first place
holding a good copy, decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE,
decompressed, checked (the catalog's SHA-256; a segment's page header names
that segment of that cluster), and only then written to DEST.

Exits 0 when DEST is written; 1 when the archive does not hold FILE (for
PostgreSQL, the end of the archived WAL); 255 when the archive could not be
read (PostgreSQL then stops recovery instead of ending it early).`,
		Args: cobra.ExactArgs(2),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			cfg, err := pitrReadConfig()
			if err != nil {
				return err
			}
			if systemID == 0 {
				return &config.Error{Var: "--system-id", Value: "", Allowed: "the cluster's system identifier is required"}
			}
			ctx := cmd.Context()
			store := openCatalogOrPlaces(ctx, cfg)
			if store != nil {
				defer store.Close()
			}
			err = pitr.WALFetch(ctx, cfg, store, systemID, args[0], args[1])
			switch {
			case err == nil:
				return nil
			case errors.Is(err, pitr.ErrWALNotFound):
				return exitStatus{err, exitFailed}
			}
			return exitStatus{fmt.Errorf("the archive could not be read: %w", err), pitr.WALFetchExitUnreachable}
		}),
	}
	cmd.Flags().Uint64Var(&systemID, "system-id", 0, "the cluster (its system identifier)")
	return cmd
}

func pitrRetentionCmd() *cobra.Command {
	var dryRun, allowMass bool
	var systemID uint64
	cmd := &cobra.Command{
		Use:   "retention [--dry-run] [--allow-mass-delete] [--system-id ID]",
		Short: "Delete the base backups and WAL the restorable window no longer needs",
		Long: `Apply BACKUP_PITR_RETENTION_DAYS to the archive (serve does it after each
base backup and daily): every good base backup started in those days is
kept, and the newest one before them (it restores the window's first
moments), always the newest; the WAL from the lowest start of the kept ones
on is kept. Older base backups and WAL are removed from every place, then from
the catalog. More than half of the good base backups at once is refused
unless --allow-mass-delete. --dry-run says what would go.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := pitrCatalog(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			ctx := cmd.Context()
			if systemID == 0 {
				// The server's own archive, when it answers.
				if srv, err := pitr.Inspect(ctx, cfg.Database); err == nil {
					systemID = srv.SystemID
				}
			}
			id, err := pitr.Cluster(ctx, store, systemID)
			if err != nil {
				return err
			}
			places, err := pitr.OpenPlaces(cfg)
			if err != nil {
				return err
			}
			defer places.Close()
			a := &pitr.Archive{Config: cfg, Server: cfg.Database, Catalog: store, Log: logger(cfg)}
			got, err := a.Expire(ctx, id, places.Stores, allowMass, dryRun)
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster %d: %s %d base backups %v and %d WAL files (window %d days)\n",
				id, verb, len(got.BaseBackups), got.BaseBackups, got.WALFiles, cfg.PITR.RetentionDays)
			return err
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be deleted, delete nothing")
	cmd.Flags().BoolVar(&allowMass, "allow-mass-delete", false, "allow deleting more than half of the good base backups")
	cmd.Flags().Uint64Var(&systemID, "system-id", 0, "the cluster (its system identifier); required when the archive holds several")
	return cmd
}

func pitrStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Print the WAL stream's state: receiving, shipped, lag, slot, window",
		Long: `Print the state of the point-in-time recovery archive as the server and the
catalog show it, from any host: whether a receiver reads the slot, how far
behind the server it is (receive lag: WAL written by the server, not yet
on the backup host), how far behind the archive's places are (ship lag,
in bytes and seconds since the newest file was shipped), the slot's
wal_status and how much WAL the server may write before losing it, the
base backups and the restorable window. The state is one word: streaming,
lagging (the places more than 5 minutes behind), or not streaming (no
receiver reads the slot). Exits 1 when not streaming.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := pitrCatalog(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			ctx := cmd.Context()
			o, err := pitr.Observe(ctx, cfg, store, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), o); err != nil {
					return err
				}
			} else {
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "cluster %d: %s\n", o.SystemID, o.State)
				fmt.Fprintf(out, "slot %s: active %v, wal_status %s, %s before it is lost\n", o.Slot, o.SlotActive, o.SlotStatus, safeText(o.SlotSafeBytes))
				fmt.Fprintf(out, "server at %s, received %s (%s behind), shipped %s (%s behind",
					o.ServerLSN, o.ReceivedLSN, humanize.IBytes(uint64(o.ReceiveLagBytes)), o.ShippedLSN, humanize.IBytes(uint64(o.ShipLagBytes)))
				if o.LastShipped != nil {
					fmt.Fprintf(out, ", last file shipped %s", o.LastShipped.UTC().Format(time.RFC3339))
				}
				fmt.Fprintln(out, ")")
				if len(o.Windows) > 0 {
					fmt.Fprintf(out, "%d base backups, newest %s; restorable:\n", o.BaseBackups, o.NewestBase)
					for _, w := range o.Windows {
						fmt.Fprintf(out, "  from %s to %s\n", w.From.UTC().Format(time.RFC3339), w.To.UTC().Format(time.RFC3339))
					}
				} else {
					fmt.Fprintf(out, "%d base backups; nothing restorable yet\n", o.BaseBackups)
				}
			}
			if o.State == "not streaming" {
				return errors.New("no receiver reads the slot: is rgz-backup serve running with BACKUP_PITR_ENABLED=true?")
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the state as JSON")
	return cmd
}

func safeText(b int64) string {
	if b < 0 {
		return "no limit"
	}
	return humanize.IBytes(uint64(b))
}
