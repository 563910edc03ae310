package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
)

func keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "age keys for encrypted backups (see: key new)", Args: cobra.NoArgs}
	var out string
	newCmd := &cobra.Command{
		Use:   "new [-o FILE]",
		Short: "Write a new age identity and print its recipient (what age-keygen does)",
		Long: `Write a new age X25519 identity, in age's identity-file format, with its
public key (the recipient) in a comment line: to -o FILE (created with
mode 0600; an existing file is never overwritten), else to stdout — and a
file that stdout is redirected to (key new > key.txt) is made 0600 too,
whatever the umask. The recipient alone goes to stderr. Keep the identity
away from the backup host (BACKUP_ENCRYPTION_IDENTITY_FILE where backups
are read) and give the recipient to BACKUP_ENCRYPTION_RECIPIENTS. Make two
(an operations key and an offline escrow key that outlives the longest
compliance copy, 7 years) and give both recipients.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			identity, recipient, err := crypt.NewKey()
			if err != nil {
				return failure{err}
			}
			text := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), recipient, identity)
			if out != "" {
				err = writeSecretFile(out, text)
			} else {
				err = writeSecretOut(cmd.OutOrStdout(), text)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Public key: %s\n", recipient)
			return nil
		},
	}
	newCmd.Flags().StringVarP(&out, "output", "o", "", "write the identity to this new file (mode 0600) instead of stdout")
	cmd.AddCommand(newCmd)
	return cmd
}

// writeSecretFile creates path, 0600, refusing one that exists.
func writeSecretFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return &config.Error{Var: "--output", Value: path, Allowed: "a file that does not exist yet (an identity is never overwritten)"}
	}
	if err != nil {
		return failure{err}
	}
	if _, err = f.WriteString(text); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failure{err}
	}
	return nil
}

// writeSecretOut writes a secret to stdout; when stdout is a regular file
// (a shell's > redirection, made with the umask's mode), it is made 0600
// before anything is written to it.
func writeSecretOut(w io.Writer, text string) error {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if err := f.Chmod(0o600); err != nil {
				return failure{fmt.Errorf("make the identity file private (chmod 600): %w", err)}
			}
		}
	}
	_, err := io.WriteString(w, text)
	return err
}
