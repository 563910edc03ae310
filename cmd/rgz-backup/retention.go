package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/retention"
)

func retentionCmd() *cobra.Command {
	var dryRun, allowMass, asJSON bool
	var now string
	cmd := &cobra.Command{
		Use:   "retention [--dry-run] [--now RFC3339]",
		Short: "Delete the backups whose retention is over, and say why",
		Long: `Apply the retention policy (docs/RETENTION.md): a daily backup is kept
BACKUP_LOCAL_RETENTION_DAYS after its date, the first successful backup of
each month (its compliance copy) BACKUP_CRITICAL_RETENTION_DAYS. Whatever
the dates, the newest successful backup and the BACKUP_MIN_KEEP newest are
kept, and so is a backup a restore is reading. Deleting removes the files;
the catalog row stays, with deleted_at. Files in BACKUP_LOCAL_DIR that the
catalog does not know are listed, never deleted.

A run that would delete more than half of the successful backups (a clock
far ahead, say) deletes nothing and exits 1; --allow-mass-delete, after you
have looked, lets it.

--dry-run prints what would go and why and changes nothing. --now evaluates
the policy as of another instant ("what will be gone by then?") and needs
--dry-run. Retention also runs after every backup and daily in the daemon.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			var at time.Time // zero: now
			if now != "" {
				t, err := time.Parse(time.RFC3339, now)
				if err != nil {
					return &config.Error{Var: "--now", Value: now, Allowed: "must be an RFC 3339 instant, such as 2026-12-01T03:00:00Z"}
				}
				if !dryRun {
					return &config.Error{Var: "--now", Value: now, Allowed: "deletes only as of the real now; use it with --dry-run"}
				}
				at = t
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				r, err := retention.Run(cmd.Context(), store, retention.Options{Config: cfg, At: at, DryRun: dryRun,
					AllowMassDelete: allowMass, Log: logger(cfg)})
				if err != nil && !errors.Is(err, retention.ErrRefused) && len(r.Problems) == 0 {
					return err // nothing was decided or done: the lock, or the catalog
				}
				if asJSON {
					if perr := printJSON(cmd.OutOrStdout(), r); perr != nil {
						return perr
					}
				} else {
					fmt.Fprint(cmd.OutOrStdout(), report.Retention(r))
				}
				if errors.Is(err, retention.ErrRefused) {
					return errors.New("retention refused: nothing was deleted (see above)")
				}
				return err
			})
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be deleted and why; delete nothing")
	cmd.Flags().StringVar(&now, "now", "", "with --dry-run: evaluate the policy as of this RFC 3339 instant")
	cmd.Flags().BoolVar(&allowMass, "allow-mass-delete", false, "let one run delete more than half of the successful backups")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decisions as one JSON object")
	return cmd
}
