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
	var target, database string
	cmd := &cobra.Command{
		Use:   "list [--days N] [--target NAME] [--database NAME] [--json]",
		Short: "List the backups of the last N days, newest first",
		Long: `List the backups of the last --days days (30), newest first: date, status,
size, CRC32, restore test, copies (verified/recorded), file, note (the
error of a failed attempt). With several databases (BACKUP_DATABASES,
BACKUP_TARGETS_FILE), each line starts with its target and database, and
--target and --database choose (a database of another target than the
default: both).`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if days < 1 || days > 36500 {
				return &config.Error{Var: "--days", Value: fmt.Sprint(days), Allowed: "must be from 1 to 36500"}
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				rows, err := store.List(cmd.Context(), catalog.Filter{Since: time.Now().UTC().AddDate(0, 0, -days), Target: target, Database: database})
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
				fmt.Fprint(cmd.OutOrStdout(), report.List(rows, copies, cfg.Several() || target != "" || database != ""))
				return nil
			})
		}),
	}
	cmd.Flags().IntVar(&days, "days", 30, "how many days back")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of catalog rows, each with its copies (\"copies\")")
	cmd.Flags().StringVar(&target, "target", "", "only this target's backups (several databases)")
	cmd.Flags().StringVar(&database, "database", "", "only this database's backups (several databases)")
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
