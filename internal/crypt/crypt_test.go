package crypt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// sshKey returns an SSH ed25519 public key line and its unencrypted
// OpenSSH private key file.
func sshKey(t *testing.T) (public string, privatePath string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " ops@noc", path
}

// sshRSAKey is sshKey for an RSA key.
func sshRSAKey(t *testing.T) (public string, privatePath string) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_rsa")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), path
}

// ageKey returns a recipient and the path of its identity file.
func ageKey(t *testing.T) (recipient, identityPath string) {
	t.Helper()
	id, rcpt, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(path, []byte("# created: test\n"+id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return rcpt, path
}

func seal(t *testing.T, keys []string, plain []byte) ([]byte, *Encrypter) {
	t.Helper()
	rs, err := Recipients(keys)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncrypter(rs)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := enc.Seal(&out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), enc
}

func open(t *testing.T, identityPath string, sealed []byte) ([]byte, error) {
	t.Helper()
	ids, err := LoadIdentities(identityPath)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewDecrypter(ids).Open(bytes.NewReader(sealed))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Three recipients (an age key, an SSH ed25519 key, an SSH RSA key): each
// identity alone decrypts, and so does the run's own validation key; a
// fourth identity does not.
func TestEachRecipientDecryptsAlone(t *testing.T) {
	t.Parallel()
	ageRcpt, ageID := ageKey(t)
	sshRcpt, sshID := sshKey(t)
	rsaRcpt, rsaID := sshRSAKey(t)
	_, strangerID := ageKey(t)
	plain := bytes.Repeat([]byte("subscriber 0612345678; "), 10000)
	sealed, enc := seal(t, []string{ageRcpt, sshRcpt, rsaRcpt}, plain)
	if bytes.Contains(sealed, []byte("0612345678")) {
		t.Fatal("the plaintext shows through")
	}
	for _, id := range []string{ageID, sshID, rsaID} {
		got, err := open(t, id, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: %v", filepath.Base(id), err)
		}
	}
	r, err := enc.Validation().Open(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, plain) {
		t.Fatal("the validation key does not decrypt")
	}
	if _, err := open(t, strangerID, sealed); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("a stranger's identity: %v, want ErrNoIdentity", err)
	}
}

// A flipped bit anywhere in the ciphertext is refused, not read past.
func TestTamperingIsDetected(t *testing.T) {
	t.Parallel()
	rcpt, id := ageKey(t)
	sealed, _ := seal(t, []string{rcpt}, bytes.Repeat([]byte("x"), 200000))
	sealed[len(sealed)-100] ^= 1
	if _, err := open(t, id, sealed); err == nil {
		t.Fatal("a damaged file decrypted")
	}
}

// The header names as many recipients as the manifest's keys plus the
// validation key, and SSH keys by their tag: checkable with no identity.
func TestHeaderMatchesTheKeys(t *testing.T) {
	t.Parallel()
	ageRcpt, _ := ageKey(t)
	sshRcpt, _ := sshKey(t)
	otherSSH, _ := sshKey(t)
	rsaRcpt, _ := sshRSAKey(t)
	sealed, _ := seal(t, []string{ageRcpt, sshRcpt, rsaRcpt}, []byte("data"))
	got, err := Header(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Expected([]string{sshRcpt, rsaRcpt, ageRcpt})
	if p := HeaderProblem(got, want); p != "" {
		t.Fatalf("same keys: %s", p)
	}
	for _, keys := range [][]string{{ageRcpt, sshRcpt}, {ageRcpt, otherSSH, rsaRcpt}, {ageRcpt, sshRcpt, rsaRcpt, ageRcpt}} {
		want, _ := Expected(keys)
		if HeaderProblem(got, want) == "" {
			t.Errorf("keys %d (%.20s…) pass for a file encrypted to others", len(keys), keys[len(keys)-1])
		}
	}
	if _, err := Header(strings.NewReader("PGDMP plain archive")); err == nil {
		t.Fatal("a plaintext file passes for an age file")
	}
}

func TestParseRecipient(t *testing.T) {
	t.Parallel()
	ageRcpt, _ := ageKey(t)
	sshRcpt, _ := sshKey(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key, wantErr string
	}{
		{ageRcpt, ""},
		{sshRcpt, ""},
		{"age1qqqqqqqqqqqqqqqqqqq", "not an age recipient"},
		{pq.Recipient().String(), "post-quantum"},
		{"age1yubikey1qwerty", "plugin"},
		{"ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not a recipient"},
		{"ssh-ed25519 AAAA-not-base64", "not an SSH public key"},
		{"AGE-SECRET-KEY-1QQQ", "not a recipient"},
	} {
		_, err := ParseRecipient(c.key)
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%.20s…: %v, want %q", c.key, err, c.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET-KEY-1QQQ") {
			t.Errorf("an error repeats what may be a secret key whole: %v", err)
		}
	}
}

func TestRecipientLines(t *testing.T) {
	t.Parallel()
	keys, lines := RecipientLines("# ops\nage1aaa, age1bbb\n\n  ssh-ed25519 AAAA ops@noc  \n", true)
	if strings.Join(keys, "|") != "age1aaa|age1bbb|ssh-ed25519 AAAA ops@noc" || lines[2] != 4 {
		t.Fatalf("%q %v", keys, lines)
	}
	keys, _ = RecipientLines("age1aaa,age1bbb\n", false)
	if len(keys) != 1 {
		t.Fatalf("a recipients file has one key per line: %q", keys)
	}
}

func TestIdentityFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("AGE-SECRET-KEY-1NOTAKEY\n"), 0o600)
	if _, err := LoadIdentities(bad); err == nil || !strings.Contains(err.Error(), "not an age identity file") {
		t.Fatalf("bad identity: %v", err)
	}
	if _, err := LoadIdentities(filepath.Join(dir, "missing.txt")); err == nil {
		t.Fatal("a missing identity file loads")
	}
}
