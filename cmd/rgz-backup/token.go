package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/config"
)

func tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Static API tokens for scripts (see: token new)", Args: cobra.NoArgs}
	var role, name string
	newCmd := &cobra.Command{
		Use:   "new --role ROLE [--name NAME]",
		Short: "Print a fresh random API token and its BACKUP_API_TOKENS entry",
		Long: `Print a fresh random token (give it to the script that calls the API) and
the entry to append to BACKUP_API_TOKENS or BACKUP_API_TOKENS_FILE
(NAME:ROLE:SHA256HEX): the daemon stores only the token's SHA-256, and the
audit and the console's sessions call its holder token:NAME, whatever the
entries' order. GET routes need admin or noc; POST routes need admin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role == "" {
				return &config.Error{Var: "--role", Value: "", Allowed: "name the role (admin or noc)"}
			}
			if name == "" {
				return &config.Error{Var: "--name", Value: "", Allowed: "name the token (who holds it: grafana, ops-script…)"}
			}
			token, entry, err := auth.NewNamedToken(name, role)
			if err != nil {
				return failure{err}
			}
			if _, err := config.ParseTokens(entry); err != nil {
				return &config.Error{Var: "--name", Value: name, Allowed: "1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token:             %s\nBACKUP_API_TOKENS: %s\n", token, entry)
			return nil
		},
	}
	newCmd.Flags().StringVar(&role, "role", "", "the token's role: admin or noc")
	newCmd.Flags().StringVar(&name, "name", "", "the token's name: who holds it (the audit says token:NAME)")
	cmd.AddCommand(newCmd)
	return cmd
}
