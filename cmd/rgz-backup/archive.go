package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/offsite"
)

func archiveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "archive",
		Short: "Upload to S3 every partial backup again, until each is verified there",
		Long: `A backup whose S3 copy failed is kept locally with status "partial" and
the reason. archive uploads each such backup again (the dump, its .sha256,
globals and manifest), verifies what landed (size and CRC32), and sets its
status to success. Exits 1 while any stays partial. The daemon does this
hourly and after each backup.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if !cfg.S3.Enabled {
				return &config.Error{Var: "BACKUP_S3_ENABLED", Value: "false", Allowed: "archive needs S3: set BACKUP_S3_ENABLED=true and the BACKUP_S3_* settings"}
			}
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				rows, err := offsite.ArchivePartials(cmd.Context(), store, cfg, logger(cfg))
				for _, row := range rows {
					if row.Status == catalog.StatusSuccess {
						fmt.Fprintf(cmd.OutOrStdout(), "OK       %s  %s\n", row.Filename, *row.ArchiveS3Path)
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "PARTIAL  %s  %s\n", row.Filename, *row.ErrorMessage)
					}
				}
				if err == nil && len(rows) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No partial backups: every good backup is in S3.")
				}
				return err
			})
		}),
	}
}
