package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/crypt"
)

func TestEncryptionSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret, r1, _ := crypt.NewKey()
	_, r2, _ := crypt.NewKey()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("recipients.txt", "# operations\n"+r1+"\n\n# escrow, offline\n"+r2+"\n")
	bad := write("bad.txt", r1+"\n# escrow\nage1notakey\n")
	identity := write("key.txt", secret+"\n")
	notIdentity := write("notkey.txt", "hello\n")
	cases := []struct {
		name       string
		vars       map[string]string
		keys       int
		errVar     string
		errHas     string
		errLacking string
	}{
		{"off by default", nil, 0, "", "", ""},
		{"inline, comma-separated", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS": r1 + ", " + r2}, 2, "", "", ""},
		{"inline, newline-separated", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS": r1 + "\n" + r2 + "\n"}, 2, "", "", ""},
		{"a recipients file", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS_FILE": good}, 2, "", "", ""},
		{"a bad line names its number", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS_FILE": bad}, 0, "BACKUP_ENCRYPTION_RECIPIENTS_FILE", "line 3", ""},
		{"an unreadable file", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS_FILE": filepath.Join(dir, "gone")}, 0, "BACKUP_ENCRYPTION_RECIPIENTS_FILE", "readable", ""},
		{"an empty file", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS_FILE": write("empty.txt", "# nobody\n")}, 0, "BACKUP_ENCRYPTION_RECIPIENTS_FILE", "no recipient", ""},
		{"both ways at once", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS": r1, "BACKUP_ENCRYPTION_RECIPIENTS_FILE": good}, 0, "BACKUP_ENCRYPTION_RECIPIENTS_FILE", "not both", ""},
		{"a bad inline key", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS": r1 + ",ssh-dss AAAA"}, 0, "BACKUP_ENCRYPTION_RECIPIENTS", "not a recipient", ""},
		{"a secret key given as a recipient is not repeated", map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS": secret}, 0, "BACKUP_ENCRYPTION_RECIPIENTS", "secret key", secret[16:]},
		{"required and none", map[string]string{"BACKUP_ENCRYPTION_REQUIRED": "true"}, 0, "BACKUP_ENCRYPTION_REQUIRED", "no recipient", ""},
		{"required and some", map[string]string{"BACKUP_ENCRYPTION_REQUIRED": "true", "BACKUP_ENCRYPTION_RECIPIENTS": r1}, 1, "", "", ""},
		{"an identity file", map[string]string{"BACKUP_ENCRYPTION_IDENTITY_FILE": identity}, 0, "", "", ""},
		{"a bad identity file", map[string]string{"BACKUP_ENCRYPTION_IDENTITY_FILE": notIdentity}, 0, "BACKUP_ENCRYPTION_IDENTITY_FILE", "identity", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(env(with(c.vars)))
			if c.errVar == "" {
				if err != nil || len(cfg.Encryption.Recipients) != c.keys || cfg.Encryption.On() != (c.keys > 0) {
					t.Fatalf("%v, %d recipients, want %d", err, len(cfg.Encryption.Recipients), c.keys)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != c.errVar || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("%v, want an error about %s saying %q", err, c.errVar, c.errHas)
			}
			if c.errLacking != "" && strings.Contains(err.Error(), c.errLacking) {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
}
