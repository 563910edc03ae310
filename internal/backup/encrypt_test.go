package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/testenv/fixture"
)

// newKey is fixture.AgeKey with the Decrypter its identity makes.
func newKey(t *testing.T) (recipient, identityFile string, dec *crypt.Decrypter) {
	t.Helper()
	recipient, identityFile = fixture.AgeKey(t)
	dec, err := crypt.IdentityFile(identityFile)
	if err != nil {
		t.Fatal(err)
	}
	return recipient, identityFile, dec
}

// plantMarker puts a string no backup may show in plaintext into a table
// of the source and into a role's name (for the globals), and returns it.
func plantMarker(t *testing.T, e *env) string {
	t.Helper()
	marker := "marker_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	conn := cluster.Conn(t, e.Source)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE TABLE secret_notes (note text); INSERT INTO secret_notes VALUES ('"+marker+"')"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE ROLE "`+marker+`"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Conn(t, "postgres").Exec(context.Background(), `DROP ROLE IF EXISTS "`+marker+`"`) })
	return marker
}

// watchForPlaintext reads every file in dir, hidden and temporary ones
// included, until stop is called, and returns the names of those that
// held marker at any moment.
func watchForPlaintext(dir, marker string) (stop func() []string) {
	var mu sync.Mutex
	seen := map[string]bool{}
	done := make(chan struct{})
	look := func() {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			b, err := os.ReadFile(filepath.Join(dir, en.Name()))
			if err == nil && bytes.Contains(b, []byte(marker)) {
				mu.Lock()
				seen[en.Name()] = true
				mu.Unlock()
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				look()
				return
			case <-time.After(10 * time.Millisecond):
				look()
			}
		}
	}()
	return func() []string {
		close(done)
		wg.Wait()
		var names []string
		for n := range seen {
			names = append(names, n)
		}
		return names
	}
}

// Issue 14: with recipients set, every format's backup is an age file
// (and so are its globals) that holds no plaintext at any moment, restores
// with the identity, and verifies deeply with it, shallowly without, and
// not at all with a stranger's.
func TestEncryptedRoundTripEveryFormat(t *testing.T) {
	t.Parallel()
	for _, format := range archive.Formats {
		t.Run(string(format), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 1)
			marker := plantMarker(t, e)
			rcpt, _, dec := newKey(t)
			_, _, stranger := newKey(t)
			e.Vars["BACKUP_COMPRESSION_FORMAT"] = string(format)
			e.Vars["BACKUP_ENCRYPTION_RECIPIENTS"] = rcpt

			stop := watchForPlaintext(e.Dir, marker)
			row, err := e.run(Options{})
			if leaked := stop(); len(leaked) > 0 {
				t.Fatalf("plaintext written to %v", leaked)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !row.Encrypted || strings.Join(row.EncryptionRecipients, ",") != rcpt ||
				!strings.HasSuffix(row.Filename, archive.Extension(format)+crypt.Extension) ||
				row.GlobalsFilename == nil || !strings.HasSuffix(*row.GlobalsFilename, ".sql.gz"+crypt.Extension) {
				t.Fatalf("row: encrypted %v to %v, file %s, globals %v", row.Encrypted, row.EncryptionRecipients, row.Filename, row.GlobalsFilename)
			}
			for _, f := range []string{*row.FilePath, filepath.Join(e.Dir, *row.GlobalsFilename)} {
				b, _ := os.ReadFile(f)
				if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
					t.Fatalf("%s is not an age file", filepath.Base(f))
				}
			}
			m, err := layout.ReadManifest(*row.FilePath + layout.ManifestSuffix)
			if err != nil || !m.Encrypted || len(m.EncryptionRecipients) != 1 || *m.ChecksumSHA256 != *row.ChecksumSHA256 {
				t.Fatalf("manifest: %v %+v", err, m)
			}

			target := restore(t, *row.FilePath, format, archive.OpenedBy(dec.Open))
			if got := query[string](t, target, "SELECT note FROM secret_notes"); got != marker {
				t.Fatalf("restored note %q", got)
			}

			ctx := context.Background()
			if c := filecheck.Backup(ctx, dump.Tools{}, e.Dir, row, nil); len(c.Problems) > 0 || !c.Shallow {
				t.Fatalf("without an identity: %+v", c)
			}
			if c := filecheck.Backup(ctx, dump.Tools{}, e.Dir, row, dec); len(c.Problems) > 0 || c.Shallow {
				t.Fatalf("with the identity: %+v", c)
			}
			if c := filecheck.Backup(ctx, dump.Tools{}, e.Dir, row, stranger); len(c.Problems) == 0 || !strings.Contains(strings.Join(c.Problems, " "), "matches none") {
				t.Fatalf("with a stranger's identity: %+v", c)
			}
			// A flipped bit is a checksum mismatch, found before any decryption.
			b, _ := os.ReadFile(*row.FilePath)
			b[len(b)/2] ^= 1
			os.WriteFile(*row.FilePath, b, 0o640)
			if c := filecheck.Backup(ctx, dump.Tools{}, e.Dir, row, dec); len(c.Problems) == 0 || !strings.Contains(c.Problems[0], "checksum") {
				t.Fatalf("a flipped bit: %+v", c)
			}
		})
	}
}

// The watcher of TestEncryptedRoundTripEveryFormat sees plaintext when
// there is some: an unencrypted, uncompressed backup shows the marker in
// the dump and in the globals (compressed ones hide it from a byte
// search, which is why the "none" case above is the one that counts).
func TestPlaintextWatcherSeesPlaintext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	marker := plantMarker(t, e)
	e.Vars["BACKUP_COMPRESSION_FORMAT"] = "none"
	stop := watchForPlaintext(e.Dir, marker)
	if _, err := e.run(Options{}); err != nil {
		t.Fatal(err)
	}
	if leaked := stop(); len(leaked) == 0 {
		t.Fatal("the watcher saw no plaintext in an unencrypted backup")
	}
}
