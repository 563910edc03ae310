package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/targets"
)

func targetsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "targets",
		Short: "Several servers from one service: the targets file (see: targets check)",
		Args:  cobra.NoArgs,
	}
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a targets file (default: BACKUP_TARGETS_FILE); exit 2 naming the line of the first problem",
		Long: `Read a targets file (YAML, schema in docs/TARGETS.md) and check every
target: its name, its URL (no password in it), where its password comes
from (the variable set, the file readable, in this environment: run it
where the service runs), its databases and exclusions, and its overrides
(schedule, compression, retention, destinations, restore-test schedule,
timeout). Exit 0 with one line per target, or 2 with FILE:LINE: problem.`,
		Args: cobra.MaximumNArgs(1),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			file := os.Getenv("BACKUP_TARGETS_FILE")
			if len(args) == 1 {
				file = args[0]
			}
			if file == "" {
				return &config.Error{Var: "BACKUP_TARGETS_FILE", Allowed: "name a targets file, or give one: rgz-backup targets check FILE"}
			}
			f, err := targets.ReadFile(file)
			if err == nil {
				err = f.CheckPasswords(file, os.Getenv)
			}
			if err != nil {
				return err
			}
			for _, line := range f.Summary() {
				fmt.Fprintln(cmd.OutOrStdout(), "OK  "+line)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d targets.\n", file, len(f.Targets))
			return nil
		}),
	}
	cmd.AddCommand(check)
	return cmd
}
