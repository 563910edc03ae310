package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/config"
)

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
			for _, w := range config.Warnings(cfg) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
			}
			return nil
		}),
	}
}
