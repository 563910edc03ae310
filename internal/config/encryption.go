package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/mosaique/rgz-backup/internal/crypt"
)

// Encryption says whom new backups are encrypted to, and where backups
// are read with which identity.
type Encryption struct {
	// Recipients are the age public keys new backups are encrypted to, as
	// given; none: backups are not encrypted.
	Recipients []string
	// IdentityFile decrypts backups where they are read (verify's deep
	// check, restore, restore tests); the backup host may have none.
	IdentityFile string
	Required     bool // BACKUP_ENCRYPTION_REQUIRED: no recipient is an error
}

// On says whether new backups are encrypted.
func (e Encryption) On() bool { return len(e.Recipients) > 0 }

func (r *reader) encryption() Encryption {
	e := Encryption{IdentityFile: r.str("BACKUP_ENCRYPTION_IDENTITY_FILE"), Required: r.boolean("BACKUP_ENCRYPTION_REQUIRED")}
	inline, file := strings.TrimSpace(r.getenv("BACKUP_ENCRYPTION_RECIPIENTS")), r.str("BACKUP_ENCRYPTION_RECIPIENTS_FILE")
	switch {
	case inline != "" && file != "":
		r.fail("BACKUP_ENCRYPTION_RECIPIENTS_FILE", file, "set either BACKUP_ENCRYPTION_RECIPIENTS or BACKUP_ENCRYPTION_RECIPIENTS_FILE, not both")
	case inline != "":
		keys, _ := crypt.RecipientLines(inline, true)
		for _, k := range keys {
			if _, err := crypt.ParseRecipient(k); err != nil {
				r.fail("BACKUP_ENCRYPTION_RECIPIENTS", shown(k), recipientProblem(k, err))
			}
		}
		e.Recipients = keys
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			r.fail("BACKUP_ENCRYPTION_RECIPIENTS_FILE", file, "must be a readable recipients file: "+err.Error())
			break
		}
		keys, lines := crypt.RecipientLines(string(b), false)
		for i, k := range keys {
			if _, err := crypt.ParseRecipient(k); err != nil {
				r.fail("BACKUP_ENCRYPTION_RECIPIENTS_FILE", file, fmt.Sprintf("line %d: %s", lines[i], recipientProblem(k, err)))
			}
		}
		if len(keys) == 0 && r.err == nil {
			r.fail("BACKUP_ENCRYPTION_RECIPIENTS_FILE", file, "holds no recipient (one age1… or SSH public key per line)")
		}
		e.Recipients = keys
	}
	if e.Required && len(e.Recipients) == 0 {
		r.fail("BACKUP_ENCRYPTION_REQUIRED", "true", "no recipient is configured: set BACKUP_ENCRYPTION_RECIPIENTS or BACKUP_ENCRYPTION_RECIPIENTS_FILE (backups are never written in plaintext while this is true)")
	}
	if e.IdentityFile != "" {
		if _, err := crypt.LoadIdentities(e.IdentityFile); err != nil {
			r.fail("BACKUP_ENCRYPTION_IDENTITY_FILE", e.IdentityFile, "must be an age identity file or an unencrypted SSH private key: "+err.Error())
		}
	}
	return e
}

// shown is the start of a key, enough to find it: a secret key pasted by
// mistake must not end up whole in an error.
func shown(key string) string {
	if len(key) > 16 {
		return key[:16] + "…"
	}
	return key
}

func recipientProblem(key string, err error) string {
	if strings.HasPrefix(strings.ToUpper(key), "AGE-SECRET-KEY-") {
		return "this is a secret key: give its public key here (age-keygen -y prints it) and keep the secret one off the backup host"
	}
	return err.Error()
}
