package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/records"
)

func catalogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Maintain the catalog (see: catalog rebuild)",
		Args:  cobra.NoArgs,
	}
	var asJSON bool
	rebuild := &cobra.Command{
		Use:   "rebuild",
		Short: "Re-create the catalog rows from the backups' manifests (local, S3, BACKUP_DESTINATIONS)",
		Long: `After a disaster that took the catalog with it, re-create its rows from the
.manifest.json each backup keeps beside itself in BACKUP_LOCAL_DIR (and in
its TARGET/DATABASE directories, with several databases), in the
BACKUP_S3_* bucket (when BACKUP_S3_ENABLED) and in every destination of
BACKUP_DESTINATIONS and of the targets file's targets, with the copies
each holds. Rows already in the
catalog are left alone; nothing is overwritten. A manifest in a
destination is taken only beside its dump, in its database's folder and
month (where the tool would have copied it); others are listed as refused. Run it against the new catalog database
(rgz-backup migrate is done for you).`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				res, err := records.Rebuild(cmd.Context(), store, cfg)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				for _, f := range res.Added {
					fmt.Fprintf(cmd.OutOrStdout(), "recorded  %s\n", f)
				}
				for _, why := range res.Refused {
					fmt.Fprintf(cmd.OutOrStdout(), "refused   %s\n", why)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d rows re-created, %d already there.\n", len(res.Added), res.Present)
				return nil
			})
		}),
	}
	rebuild.Flags().BoolVar(&asJSON, "json", false, "print what was re-created as one JSON object")
	cmd.AddCommand(rebuild)
	return cmd
}
