package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the catalog schema",
		Args:  cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			pool, err := catalog.OpenPoolCreating(cmd.Context(), cfg.Catalog, "rgz-backup migrate", 4)
			if err != nil {
				return err
			}
			store := catalog.NewStore(pool)
			defer store.Close()
			applied, err := store.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Catalog schema is current (version %d).\n", catalog.SchemaVersion())
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Applied %s; catalog schema is at version %d.\n", strings.Join(applied, ", "), catalog.SchemaVersion())
			return nil
		}),
	}
}
