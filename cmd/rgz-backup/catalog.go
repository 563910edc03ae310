package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/report"
)

// openCatalog opens the catalog, creating its schema when missing so that
// reading a fresh catalog shows "no backups" rather than an SQL error.
func openCatalog(ctx context.Context, cfg config.Config) (*catalog.Store, error) {
	store, err := catalog.Open(ctx, cfg.Catalog)
	if err != nil {
		return nil, err
	}
	if _, err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// withCatalog loads the configuration and runs fn with the open catalog.
func withCatalog(ctx context.Context, fn func(*catalog.Store) error) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	store, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store)
}

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
				if asJSON {
					return printJSON(cmd.OutOrStdout(), rows)
				}
				if len(rows) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "No backups in the last %d days.\n", days)
					return nil
				}
				fmt.Fprint(cmd.OutOrStdout(), report.List(rows))
				return nil
			})
		}),
	}
	cmd.Flags().IntVar(&days, "days", 30, "how many days back")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of catalog rows")
	return cmd
}

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

// errNoBackup is returned by lookups that find nothing.
var errNoBackup = errors.New("no backup")

// findRow looks a backup up by id or by file name (a path is reduced to its name).
func findRow(ctx context.Context, store *catalog.Store, ref string) (catalog.Execution, error) {
	var row catalog.Execution
	var err error
	if _, perr := uuid.Parse(ref); perr == nil {
		row, err = store.Get(ctx, ref)
	} else {
		row, err = store.ByFilename(ctx, ref[strings.LastIndex(ref, "/")+1:])
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return row, fmt.Errorf("%w named %q in the catalog (see rgz-backup list)", errNoBackup, ref)
	}
	return row, err
}

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
			store, err := catalog.Open(cmd.Context(), cfg.Catalog)
			if err != nil {
				return err
			}
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

func configCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprint(out, config.Describe(os.Getenv))
			fmt.Fprintf(out, "# effective: database %s, catalog %s, compression %s level %d\n",
				cfg.Database.URL, cfg.Catalog.URL, cfg.CompressionFormat, cfg.CompressionLevel)
			return nil
		}),
	}
}
