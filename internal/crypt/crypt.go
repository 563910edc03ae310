// Package crypt encrypts backup files to the team's age public keys and
// decrypts them with an age identity (filippo.io/age: X25519 or SSH keys,
// STREAM with authentication). The host that takes backups needs the
// public keys only; reading needs an identity, which may live elsewhere.
// A person decrypts a file by hand with the `age` CLI (docs/RESTORE.md).
package crypt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// Extension follows the compression's in an encrypted file's name, so that
// the by-hand pipeline reads in order: FILE.dump.gz.age is age, then gzip.
const Extension = ".age"

// ParseRecipient reads one public key: an age X25519 recipient (age1…) or
// an SSH public key (ssh-ed25519, ssh-rsa), as age accepts them.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "age1pq1"), strings.HasPrefix(s, "age1tag"):
		return nil, fmt.Errorf("%.16s…: post-quantum and tagged age recipients are not supported yet; use an X25519 (age1…) or SSH key", s)
	case strings.HasPrefix(s, "age1") && strings.Count(s, "1") > 1: // bech32 data has no "1"
		return nil, fmt.Errorf("%.16s…: age plugin recipients are not supported; use an X25519 (age1…) or SSH key", s)
	case strings.HasPrefix(s, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("%.16s…: not an age recipient: %w", s, err)
		}
		return r, nil
	case strings.HasPrefix(s, "ssh-ed25519 "), strings.HasPrefix(s, "ssh-rsa "):
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("%.24s…: not an SSH public key age accepts: %w", s, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%.16s…: not a recipient (expected age1…, ssh-ed25519 … or ssh-rsa …)", s)
}

// RecipientLines splits a list of recipients as BACKUP_ENCRYPTION_RECIPIENTS
// holds them (comma- or newline-separated) or as a recipients file does
// (one per line, # comments and blank lines ignored). It returns each key
// with the line it came from (1-based).
func RecipientLines(text string, commas bool) (keys []string, lines []int) {
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		parts := []string{line}
		if commas {
			parts = strings.Split(line, ",")
		}
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				keys, lines = append(keys, p), append(lines, i+1)
			}
		}
	}
	return keys, lines
}

// Recipients parses public keys already checked by the configuration.
func Recipients(keys []string) ([]age.Recipient, error) {
	out := make([]age.Recipient, 0, len(keys))
	for _, k := range keys {
		r, err := ParseRecipient(k)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// LoadIdentities reads an identity file: age's format (AGE-SECRET-KEY-1…
// lines, # comments), or an unencrypted OpenSSH private key.
func LoadIdentities(path string) ([]age.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(b)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%s: a passphrase-protected SSH key cannot be used unattended; use an age identity or an unencrypted key", path)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: not an SSH private key age accepts: %w", path, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not an age identity file: %w", path, err)
	}
	return ids, nil
}

// NewKey returns a new X25519 identity and its recipient, as age-keygen
// prints them.
func NewKey() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	return id.String(), id.Recipient().String(), nil
}

// Encrypter seals a stream to the recipients, plus one key of its own: a
// validation identity that exists only in this process's memory, so that a
// host with no identity can still decrypt what it has just written and
// prove it whole before publishing it (docs/DECISIONS.md).
type Encrypter struct {
	recipients []age.Recipient
	validation *age.X25519Identity
}

// NewEncrypter prepares encryption to recipients for one backup.
func NewEncrypter(recipients []age.Recipient) (*Encrypter, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipient to encrypt to")
	}
	v, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	return &Encrypter{recipients: append(append([]age.Recipient{}, recipients...), v.Recipient()), validation: v}, nil
}

// Seal encrypts what is written to the returned writer into dst; Close
// writes the last chunk (it does not close dst).
func (e *Encrypter) Seal(dst io.Writer) (io.WriteCloser, error) {
	return age.Encrypt(dst, e.recipients...)
}

// Validation decrypts what this Encrypter sealed: for the check before
// publishing.
func (e *Encrypter) Validation() Decrypter { return Decrypter{ids: []age.Identity{e.validation}} }

// Decrypter opens encrypted files with identities.
type Decrypter struct{ ids []age.Identity }

// NewDecrypter opens with the identities of an identity file.
func NewDecrypter(ids []age.Identity) Decrypter { return Decrypter{ids: ids} }

// IdentityFile is the Decrypter of the identity file at path; nil when
// path is empty (no identity on this host).
func IdentityFile(path string) (*Decrypter, error) {
	if path == "" {
		return nil, nil
	}
	ids, err := LoadIdentities(path)
	if err != nil {
		return nil, err
	}
	return &Decrypter{ids: ids}, nil
}

// ErrNoIdentity means an identity matches none of a file's recipients.
var ErrNoIdentity = errors.New("the identity (BACKUP_ENCRYPTION_IDENTITY_FILE) matches none of the backup's recipients")

// Matches says whether an identity opens src's header (ErrNoIdentity when
// none does), reading the header only.
func (d Decrypter) Matches(src io.Reader) error {
	_, err := d.Open(src)
	return err
}

// Open returns the plaintext of src.
func (d Decrypter) Open(src io.Reader) (io.Reader, error) {
	r, err := age.Decrypt(src, d.ids...)
	var none *age.NoIdentityMatchError
	if errors.As(err, &none) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return r, nil
}

// Stanza is one recipient's entry in an age header: its type ("X25519",
// "ssh-ed25519", "ssh-rsa") and, for SSH keys, the key's tag.
type Stanza struct {
	Type string
	Tag  string
}

// Header reads the stanzas of the age header at the start of src. It
// needs no identity.
func Header(src io.Reader) ([]Stanza, error) {
	hdr, err := age.ExtractHeader(src)
	if err != nil {
		return nil, fmt.Errorf("not an age file: %w", err)
	}
	var out []Stanza
	sc := bufio.NewScanner(bytes.NewReader(hdr))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "->" {
			s := Stanza{Type: f[1]}
			if strings.HasPrefix(s.Type, "ssh-") && len(f) >= 3 {
				s.Tag = f[2]
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Expected are the stanzas a file encrypted to keys (and the validation
// key) carries: X25519 for age1… keys and the validation key, the SSH
// type and the key's tag for SSH keys.
func Expected(keys []string) ([]Stanza, error) {
	out := make([]Stanza, 0, len(keys)+1)
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if strings.HasPrefix(k, "ssh-") {
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(pk.Marshal())
			out = append(out, Stanza{Type: pk.Type(), Tag: base64.RawStdEncoding.EncodeToString(sum[:4])})
			continue
		}
		out = append(out, Stanza{Type: "X25519"})
	}
	return append(out, Stanza{Type: "X25519"}), nil
}

// HeaderProblem compares a file's stanzas with those its manifest's keys
// call for (in any order); "" when they agree.
func HeaderProblem(got, want []Stanza) string {
	count := map[Stanza]int{}
	for _, s := range want {
		count[s]++
	}
	for _, s := range got {
		count[s]--
	}
	for s, n := range count {
		if n != 0 {
			return fmt.Sprintf("the age header has %d recipient entries, the manifest's keys call for %d (first difference: %s %s)", len(got), len(want), s.Type, s.Tag)
		}
	}
	return ""
}
