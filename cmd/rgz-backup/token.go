package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/config"
)

func tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Static API tokens for scripts (see: token new)", Args: cobra.NoArgs}
	var role string
	newCmd := &cobra.Command{
		Use:   "new --role ROLE",
		Short: "Print a fresh random API token and its BACKUP_API_TOKENS entry",
		Long: `Print a fresh random token (give it to the script that calls the API) and
the entry to append to BACKUP_API_TOKENS (ROLE:SHA256HEX): the daemon
stores only the token's SHA-256. GET routes need admin or noc; POST routes
need admin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role == "" {
				return &config.Error{Var: "--role", Value: "", Allowed: "name the role (admin or noc)"}
			}
			token, entry, err := auth.NewToken(role)
			if err != nil {
				return failure{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token:             %s\nBACKUP_API_TOKENS: %s\n", token, entry)
			return nil
		},
	}
	newCmd.Flags().StringVar(&role, "role", "", "the token's role: admin or noc")
	cmd.AddCommand(newCmd)
	return cmd
}
