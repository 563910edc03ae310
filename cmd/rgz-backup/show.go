package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/report"
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
				if err := printRow(cmd.OutOrStdout(), row, asJSON); err != nil || asJSON {
					return err
				}
				copies, err := store.Copies(cmd.Context(), row.ID)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(cmd.OutOrStdout(), report.Copies(copies))
				return err
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog row as one JSON object")
	return cmd
}
