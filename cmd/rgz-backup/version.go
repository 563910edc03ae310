package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/version"
)

func versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print this build's version, commit, build date and Go version (--json: one object)",
		Long: `Print which build this is: the release version, commit and build date set
at release time (make build, make package), or what the Go toolchain
recorded of the checkout, or "devel". Every backup records the version
that took it (rgz_version in its manifest and catalog row), and the
daemon exports rgz_backup_build_info{version,commit,goversion}.`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), info.String())
			return err
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
