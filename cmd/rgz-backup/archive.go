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
		Short: "Copy every partial backup again (S3, BACKUP_DESTINATIONS), until each copy is verified",
		Long: `A backup whose S3 copy, or copy to one of BACKUP_DESTINATIONS, failed is
kept locally with status "partial" and the reasons. archive copies each
such backup again where a verified copy is missing (the dump, its .sha256,
globals and manifest), verifies what landed (size and CRC32), and sets its
status to success once every copy is there. Exits 1 while any stays
partial. The daemon does this hourly and after each backup.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if len(cfg.AllDestinations()) == 0 && len(cfg.TargetDestinations) == 0 {
				return &config.Error{Var: "BACKUP_S3_ENABLED", Value: "false", Allowed: "archive needs somewhere to copy to: set BACKUP_S3_ENABLED=true and the BACKUP_S3_* settings, or BACKUP_DESTINATIONS"}
			}
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				rows, err := offsite.ArchivePartials(cmd.Context(), store, cfg, logger(cfg))
				for _, row := range rows {
					if row.Status == catalog.StatusSuccess {
						where := "every copy verified"
						if row.ArchiveS3Path != nil {
							where = *row.ArchiveS3Path
						}
						fmt.Fprintf(cmd.OutOrStdout(), "OK       %s  %s\n", row.Filename, where)
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "PARTIAL  %s  %s\n", row.Filename, *row.ErrorMessage)
					}
				}
				if err == nil && len(rows) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No partial backups: every good backup has all its copies.")
				}
				return err
			})
		}),
	}
}
