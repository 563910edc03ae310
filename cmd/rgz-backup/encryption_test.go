package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// newKeyFile runs `rgz-backup key new` and returns the recipient it
// printed and the identity file it wrote.
func newKeyFile(t *testing.T) (recipient, identity string) {
	t.Helper()
	r := rgz(t, nil, "key", "new")
	if r.code != 0 || !strings.Contains(r.stdout, "AGE-SECRET-KEY-1") || !strings.HasPrefix(r.stderr, "Public key: age1") {
		t.Fatalf("key new: %+v", r)
	}
	identity = filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(identity, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(strings.TrimPrefix(r.stderr, "Public key: ")), identity
}

// Settings that would let a backup go out in plaintext, or that cannot
// work, stop every command with exit 2 naming the variable, and write
// nothing.
func TestEncryptionSettingsExit2(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"BACKUP_ENCRYPTION_REQUIRED": "true"}, "BACKUP_ENCRYPTION_REQUIRED"},
		{map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS": "age1notakey"}, "BACKUP_ENCRYPTION_RECIPIENTS"},
		{map[string]string{"BACKUP_ENCRYPTION_RECIPIENTS_FILE": "/nonexistent/recipients.txt"}, "BACKUP_ENCRYPTION_RECIPIENTS_FILE"},
		{map[string]string{"BACKUP_ENCRYPTION_IDENTITY_FILE": "/nonexistent/key.txt"}, "BACKUP_ENCRYPTION_IDENTITY_FILE"},
	} {
		env := sampleEnv(t)
		for k, v := range c.vars {
			env[k] = v
		}
		r := rgz(t, env, "backup")
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q", c.vars, r.code, r.stderr)
		}
		if got := dumps(env["BACKUP_LOCAL_DIR"]); len(got) != 0 {
			t.Errorf("%v: files written: %v", c.vars, got)
		}
	}
}

// Two recipients; each identity alone restores; no identity: verify checks
// what it can and says so, a restore test fails saying what to set; the
// daemon refuses to start with restore tests it could not run; rotation:
// a backup taken after the recipients change restores with the new key
// only, and the old one still with the old key; list --json tells which.
func TestEncryptedBackupsFromTheCLI(t *testing.T) {
	t.Parallel()
	ops, opsID := newKeyFile(t)
	escrow, escrowID := newKeyFile(t)
	env := sampleEnv(t)
	env["BACKUP_ENCRYPTION_RECIPIENTS"] = ops + "," + escrow
	env["BACKUP_ENCRYPTION_REQUIRED"] = "true"
	first, r := backupRow(t, env)
	if r.code != 0 || !first.Encrypted || !strings.HasSuffix(first.Filename, ".dump.gz.age") || len(first.EncryptionRecipients) != 2 {
		t.Fatalf("backup: %+v\n%+v", first, r)
	}
	if v := rgz(t, env, "verify", first.Filename); v.code != 0 || !strings.Contains(v.stdout, "checksums and age header only") {
		t.Fatalf("verify without an identity: %+v", v)
	}
	if rt := rgz(t, env, "restore-test", first.Filename); rt.code != 1 || !strings.Contains(rt.stderr, "set BACKUP_ENCRYPTION_IDENTITY_FILE") {
		t.Fatalf("restore-test without an identity: %+v", rt)
	}
	for _, id := range []string{opsID, escrowID} {
		env["BACKUP_ENCRYPTION_IDENTITY_FILE"] = id
		if v := rgz(t, env, "verify", first.Filename); v.code != 0 || !strings.Contains(v.stdout, "TOC entries") {
			t.Fatalf("verify with %s: %+v", filepath.Base(filepath.Dir(id)), v)
		}
		if rt := rgz(t, env, "restore-test", first.Filename); rt.code != 0 || !strings.Contains(rt.stdout, "SUCCESS") {
			t.Fatalf("restore-test with one identity: %+v", rt)
		}
	}
	if show := rgz(t, env, "show", first.Filename); !strings.Contains(show.stdout, "Encrypted (age) to:  "+ops+", "+escrow) {
		t.Fatalf("show: %s", show.stdout)
	}
	target := "dr_age_" + strings.ToLower(first.Filename[:15])
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), target) })
	if rs := rgz(t, env, "restore", first.Filename, "--target-db", target, "--create", "--with-globals"); rs.code != 0 || !strings.Contains(rs.stdout, "every table and row count matches") {
		t.Fatalf("restore with the escrow identity: %+v", rs)
	}

	// No identity, restore tests on: the daemon does not start.
	delete(env, "BACKUP_ENCRYPTION_IDENTITY_FILE")
	if s := rgz(t, env, "serve"); s.code != 2 || !strings.Contains(s.stderr, "BACKUP_ENCRYPTION_IDENTITY_FILE") {
		t.Fatalf("serve without an identity: %+v", s)
	}

	// Rotation: the operations key changes.
	newOps, newOpsID := newKeyFile(t)
	env["BACKUP_ENCRYPTION_RECIPIENTS"] = newOps
	second, r := backupRow(t, env)
	if r.code != 0 || strings.Join(second.EncryptionRecipients, ",") != newOps {
		t.Fatalf("backup after rotation: %+v", r)
	}
	for _, c := range []struct {
		identity, file string
		ok             bool
	}{{opsID, first.Filename, true}, {opsID, second.Filename, false}, {newOpsID, second.Filename, true}, {newOpsID, first.Filename, false}} {
		env["BACKUP_ENCRYPTION_IDENTITY_FILE"] = c.identity
		rt := rgz(t, env, "restore-test", c.file)
		if (rt.code == 0) != c.ok || (!c.ok && !strings.Contains(rt.stderr, "matches none of its recipients")) {
			t.Fatalf("restore-test %s with %s: %+v", c.file, c.identity, rt)
		}
	}
	var rows []catalog.Execution
	l := rgz(t, env, "list", "--json")
	if json.Unmarshal([]byte(l.stdout), &rows) != nil || len(rows) != 2 || strings.Join(rows[1].EncryptionRecipients, ",") != ops+","+escrow {
		t.Fatalf("list --json: %s", l.stdout)
	}
}

// The by-hand SOP decrypts with the real age CLI and the escrow identity
// alone, globals included.
func TestByHandProcedureDecryptsWithTheAgeCLI(t *testing.T) {
	t.Parallel()
	agePath, err := testtool.Find("age")
	if err != nil {
		t.Fatal(err) // the install script installs it: never skip
	}
	_, opsKey := newKeyFile(t)
	ops := recipientOf(t, opsKey)
	escrow, escrowID := newKeyFile(t)
	env := sampleEnv(t)
	env["BACKUP_ENCRYPTION_RECIPIENTS"] = ops + "\n" + escrow
	row, r := backupRow(t, env)
	if r.code != 0 || !row.Encrypted {
		t.Fatalf("backup: %+v", r)
	}
	target := "byhand_age_" + strings.ToLower(row.Filename[:15])
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), target) })
	cmd := exec.Command("bash", "../../docs/restore-by-hand.sh")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(agePath)+":"+os.Getenv("PATH"), "BACKUP_DIR="+env["BACKUP_LOCAL_DIR"], "BACKUP="+row.Filename,
		"AGE_IDENTITY="+escrowID, "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(cluster.Port), "PGUSER=postgres", "TARGET_DB="+target,
		"JOBS=2", "WORK="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "every table holds exactly the rows of the backup") || !strings.Contains(string(out), ".globals.sql.gz.age") {
		t.Fatalf("the by-hand procedure: %v\n%s", err, out)
	}
	if cluster.SchemaOnly(t, target) != cluster.SchemaOnly(t, dbName(env["BACKUP_DATABASE_URL"])) {
		t.Fatal("the by-hand restore differs from the source")
	}
}

// recipientOf reads the public key from the comment `key new` writes.
func recipientOf(t *testing.T, identity string) string {
	t.Helper()
	b, _ := os.ReadFile(identity)
	for _, l := range strings.Split(string(b), "\n") {
		if after, ok := strings.CutPrefix(l, "# public key: "); ok {
			return after
		}
	}
	t.Fatalf("no public key in %s", identity)
	return ""
}

// S3 holds the same encrypted bytes as the disk, and no object holds the
// plaintext (a marker row, uncompressed archive).
func TestS3HoldsOnlyCiphertext(t *testing.T) {
	t.Parallel()
	rcpt, _ := newKeyFile(t)
	env := s3Env(t)
	env["BACKUP_ENCRYPTION_RECIPIENTS"] = rcpt
	env["BACKUP_COMPRESSION_FORMAT"] = "none"
	marker := "marker_s3_" + strconv.Itoa(os.Getpid())
	src := dbName(env["BACKUP_DATABASE_URL"])
	if _, err := cluster.Conn(t, src).Exec(context.Background(), "CREATE TABLE secret_notes (note text); INSERT INTO secret_notes VALUES ('"+marker+"')"); err != nil {
		t.Fatal(err)
	}
	row, r := backupRow(t, env)
	if r.code != 0 || row.ArchiveS3Path == nil {
		t.Fatalf("backup: %+v", r)
	}
	ctx := context.Background()
	bucket := env["BACKUP_S3_BUCKET"]
	n := 0
	for obj := range s3srv.Client().ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		o, err := s3srv.Client().GetObject(ctx, bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		n++
		if strings.Contains(string(b), marker) {
			t.Fatalf("S3 object %s holds the plaintext", obj.Key)
		}
		if strings.HasSuffix(obj.Key, row.Filename) {
			local, _ := os.ReadFile(*row.FilePath)
			if string(local) != string(b) {
				t.Fatalf("S3's %s differs from the local file", obj.Key)
			}
		}
	}
	if n < 3 {
		t.Fatalf("%d objects in S3", n)
	}
	for _, f := range dumps(env["BACKUP_LOCAL_DIR"]) {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), marker) {
			t.Fatalf("%s holds the plaintext", f)
		}
	}
}

// An identity is a private key: `key new > key.txt` (the README's
// command) and `key new -o key.txt` both leave it 0600 whatever the
// umask, and -o never overwrites a file.
func TestKeyNewWritesAPrivateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	redirected, out := filepath.Join(dir, "key.txt"), filepath.Join(dir, "other.txt")
	sh := exec.Command("sh", "-c", `umask 022; "$0" key new > "$1"`, binary, redirected)
	sh.Env = []string{"PATH=" + os.Getenv("PATH")}
	if b, err := sh.CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "Public key: age1") {
		t.Fatalf("key new > key.txt: %v %s", err, b)
	}
	if r := rgz(t, nil, "key", "new", "-o", out); r.code != 0 || r.stdout != "" || !strings.HasPrefix(r.stderr, "Public key: age1") {
		t.Fatalf("key new -o: %+v", r)
	}
	for _, p := range []string{redirected, out} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want 0600", p, st.Mode(), err)
		}
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), "AGE-SECRET-KEY-1") {
			t.Fatalf("%s holds no identity", p)
		}
	}
	before, _ := os.ReadFile(out)
	if r := rgz(t, nil, "key", "new", "-o", out); r.code != 2 || !strings.Contains(r.stderr, "--output") {
		t.Fatalf("key new -o over an existing file: %+v", r)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Fatal("an identity was overwritten")
	}
}
