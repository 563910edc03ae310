package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/crypt"
)

func keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "age keys for encrypted backups (see: key new)", Args: cobra.NoArgs}
	newCmd := &cobra.Command{
		Use:   "new",
		Short: "Print a new age identity and its recipient (what age-keygen does)",
		Long: `Print a new age X25519 identity, in age's identity-file format, on
stdout, with its public key (the recipient) in a comment line, and the
recipient alone on stderr. Save stdout as the identity file (mode 0600,
away from the backup host: BACKUP_ENCRYPTION_IDENTITY_FILE where backups
are read) and give the recipient to BACKUP_ENCRYPTION_RECIPIENTS. Make two
(an operations key and an offline escrow key that outlives the longest
compliance copy, 7 years) and give both recipients.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			identity, recipient, err := crypt.NewKey()
			if err != nil {
				return failure{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), recipient, identity)
			fmt.Fprintf(cmd.ErrOrStderr(), "Public key: %s\n", recipient)
			return nil
		},
	}
	cmd.AddCommand(newCmd)
	return cmd
}
