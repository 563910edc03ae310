package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/report"
)

func listCmd() *cobra.Command {
	var days int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backups of the last N days, newest first",
		Args:  cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if days < 1 || days > 36500 {
				return &config.Error{Var: "--days", Value: fmt.Sprint(days), Allowed: "must be from 1 to 36500"}
			}
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				rows, err := store.List(cmd.Context(), catalog.Filter{Since: time.Now().UTC().AddDate(0, 0, -days)})
				if err != nil {
					return err
				}
				copies, err := store.CopiesOf(cmd.Context(), ids(rows))
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), withCopies(rows, copies))
				}
				if len(rows) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "No backups in the last %d days.\n", days)
					return nil
				}
				fmt.Fprint(cmd.OutOrStdout(), report.List(rows, copies))
				return nil
			})
		}),
	}
	cmd.Flags().IntVar(&days, "days", 30, "how many days back")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of catalog rows, each with its copies (\"copies\")")
	return cmd
}

// rowWithCopies is a catalog row as JSON (its columns' names) with one
// key more: its copies (backup_copies), each with its state.
type rowWithCopies struct {
	catalog.Execution
	Copies []catalog.Copy `json:"copies"`
}

func ids(rows []catalog.Execution) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func withCopies(rows []catalog.Execution, copies map[string][]catalog.Copy) []rowWithCopies {
	out := make([]rowWithCopies, len(rows))
	for i, r := range rows {
		out[i] = rowWithCopies{Execution: r, Copies: copies[r.ID]}
		if out[i].Copies == nil {
			out[i].Copies = []catalog.Copy{}
		}
	}
	return out
}
