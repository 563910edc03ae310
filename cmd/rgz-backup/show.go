package main

import (
	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

func showCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show FILENAME|ID",
		Short: "Show one backup's report",
		Args:  cobra.ExactArgs(1),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				row, err := findRow(cmd.Context(), store, args[0])
				if err != nil {
					return err
				}
				return printRow(cmd.OutOrStdout(), row, asJSON)
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog row as one JSON object")
	return cmd
}
