// Package dump runs the PostgreSQL client programs (pg_dump, pg_dumpall,
// pg_restore) as child processes: never through a shell, the password in the
// child's environment rather than its argv, stderr kept for the error, and
// the whole process group killed when the context ends.
package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mosaique/rgz-backup/internal/config"
)

// Tools finds and runs the client programs. BinDir, when set, is the only
// place looked in; otherwise PATH, then the newest /usr/lib/postgresql/*/bin.
type Tools struct {
	BinDir string
	// AppName is the children's application_name (PGAPPNAME), so that
	// their server sessions can be found, and ended, by it; default
	// "rgz-backup".
	AppName string
	// Programs are what Check requires; nil: Required.
	Programs []string
}

// Path returns the executable for name (pg_dump, pg_restore, initdb, ...).
func (t Tools) Path(name string) (string, error) {
	if t.BinDir != "" {
		p := filepath.Join(t.BinDir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found in BACKUP_PG_BIN_DIR=%s", name, t.BinDir)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOfDir(dirs[i]) > versionOfDir(dirs[j]) })
	for _, d := range dirs {
		if p := filepath.Join(d, name); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH nor in /usr/lib/postgresql/*/bin: install the PostgreSQL client (Debian: apt-get install postgresql-client)", name)
}

func versionOfDir(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Version runs `name --version` and returns its major version and the line
// it printed.
func (t Tools) Version(ctx context.Context, name string) (int, string, error) {
	var out bytes.Buffer
	if err := t.run(ctx, name, []string{"--version"}, config.Database{}, nil, &out); err != nil {
		return 0, "", err
	}
	line := strings.TrimSpace(out.String())
	major, err := ParseClientVersion(line)
	return major, line, err
}

// Required are the client programs every backup and restore needs.
var Required = []string{"pg_dump", "pg_restore", "pg_dumpall"}

// PITRPrograms are what point-in-time recovery needs besides Required.
var PITRPrograms = []string{"pg_receivewal", "pg_basebackup", "pg_verifybackup"}

// Needed are the programs Check requires.
func (t Tools) Needed() []string {
	if t.Programs == nil {
		return Required
	}
	return t.Programs
}

// Check finds the required client programs and runs each for its version:
// it says which are missing or unusable, and that they are of one major
// version (a mix means a bin directory pieced together by hand). The
// daemon checks at start and on every readiness probe, so that a missing
// pg_dump shows at deployment, not at 03:00.
func (t Tools) Check(ctx context.Context) (major int, err error) {
	var problems []string
	versions := map[int][]string{}
	for _, name := range t.Needed() {
		m, _, err := t.Version(ctx, name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		versions[m] = append(versions[m], name)
		major = m
	}
	if len(versions) > 1 {
		problems = append(problems, fmt.Sprintf("client programs of different major versions: %v", versions))
	}
	if len(problems) > 0 {
		return 0, errors.New(strings.Join(problems, "; "))
	}
	return major, nil
}

var clientVersion = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// ParseClientVersion reads the major version from a line such as
// "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)". For 9.x it returns
// 9; server_version_num/10000 gives the same number for comparison.
func ParseClientVersion(line string) (int, error) {
	m := clientVersion.FindStringSubmatch(line)
	if m == nil {
		return 0, fmt.Errorf("unrecognised version line %q", line)
	}
	return strconv.Atoi(m[1])
}

// Dump runs `pg_dump -Fc -Z0` of db, inside the exported snapshot when one is
// given, writing the archive to out. Compression is ours, in one pass.
// lockWait (when positive) bounds how long pg_dump waits for each table's
// lock: a table held by someone else fails the dump instead of queueing
// it, and its session, forever.
func (t Tools) Dump(ctx context.Context, db config.Database, snapshot string, lockWait time.Duration, out io.Writer) error {
	args := []string{"--format=custom", "--compress=0", "--no-password", "--dbname=" + db.URL}
	if snapshot != "" {
		args = append(args, "--snapshot="+snapshot)
	}
	if lockWait > 0 {
		args = append(args, fmt.Sprintf("--lock-wait-timeout=%dms", max(lockWait.Milliseconds(), 1)))
	}
	return t.run(ctx, "pg_dump", args, db, nil, out)
}

// ReceiveWAL runs pg_receivewal from db's server into dir through the
// physical replication slot slot, until it exits or ctx ends (a cancel
// kills it, which loses nothing: what it flushed is in dir, and the slot
// keeps the rest on the server). --synchronous: it flushes every write
// and tells the server so at once, so the slot advances only past WAL on
// this host's disk. --no-loop: a lost connection ends it, and the caller
// decides when to start it again (and says so).
func (t Tools) ReceiveWAL(ctx context.Context, db config.Database, slot, dir string) error {
	args := []string{"--directory=" + dir, "--slot=" + slot, "--synchronous", "--no-loop", "--no-password",
		"--dbname=" + db.URL}
	return t.run(ctx, "pg_receivewal", args, db, nil, io.Discard)
}

// BaseBackup runs pg_basebackup of db's whole server into dir (which must
// not exist or be empty): plain format, the WAL it needs streamed in
// beside it, a manifest with SHA-256 checksums of every file, and a fast
// checkpoint (a base backup should start now, not at the server's next
// checkpoint). --no-sync: the copy is a working copy, read and sealed
// into the file that is kept (and made durable) at once; syncing its
// thousands of files first only costs the disk.
func (t Tools) BaseBackup(ctx context.Context, db config.Database, dir, label string) error {
	args := []string{"--pgdata=" + dir, "--format=plain", "--wal-method=stream", "--checkpoint=fast",
		"--manifest-checksums=SHA256", "--label=" + label, "--no-sync", "--no-password", "--dbname=" + db.URL}
	return t.run(ctx, "pg_basebackup", args, db, nil, io.Discard)
}

// VerifyBackup runs pg_verifybackup over a plain base backup: every file
// against the manifest's checksums, and the WAL it needs parsed.
func (t Tools) VerifyBackup(ctx context.Context, dir string) error {
	return t.run(ctx, "pg_verifybackup", []string{"--quiet", dir}, config.Database{}, nil, io.Discard)
}

// DumpSchema runs `pg_dump -Fc --schema-only` of db, writing the archive to
// out: what the restore test lists to count a restored copy's objects.
func (t Tools) DumpSchema(ctx context.Context, db config.Database, out io.Writer) error {
	args := []string{"--format=custom", "--schema-only", "--no-password", "--dbname=" + db.URL}
	return t.run(ctx, "pg_dump", args, db, nil, out)
}

// DumpGlobals writes `pg_dumpall --globals-only` (roles, tablespaces) to out.
// A role that may not read pg_authid gets --no-role-passwords instead; the
// second result says so.
func (t Tools) DumpGlobals(ctx context.Context, db config.Database, out io.Writer) (withoutPasswords bool, err error) {
	args := []string{"--globals-only", "--no-password", "--dbname=" + db.URL}
	var buf bytes.Buffer // globals are small; buffering lets a retry start clean
	err = t.run(ctx, "pg_dumpall", args, db, nil, &buf)
	if err != nil && strings.Contains(err.Error(), "permission denied") {
		buf.Reset()
		withoutPasswords = true
		err = t.run(ctx, "pg_dumpall", append(args, "--no-role-passwords"), db, nil, &buf)
	}
	if err != nil {
		return withoutPasswords, err
	}
	_, err = io.Copy(out, &buf)
	return withoutPasswords, err
}

// ListTOC runs `pg_restore --list` over a custom-format archive read from in
// and returns the listing.
func (t Tools) ListTOC(ctx context.Context, in io.Reader) (string, error) {
	var out bytes.Buffer
	err := t.run(ctx, "pg_restore", []string{"--list"}, config.Database{}, in, &out)
	return out.String(), err
}

// ReadArchive starts `pg_restore --file=/dev/null` over a custom-format
// archive written to the returned writer: pg_restore reads every data
// block of every table of contents entry, in order, to the end, and fails
// on a short or malformed archive (which `--list`, reading only the head,
// cannot see). It needs no database.
func (t Tools) ReadArchive(ctx context.Context) (io.WriteCloser, func() error, error) {
	return t.Feed(ctx, "pg_restore", []string{"--file=" + os.DevNull}, io.Discard)
}

// StartListTOC is ListTOC over an archive written to the returned writer;
// wait returns the listing.
func (t Tools) StartListTOC(ctx context.Context) (io.WriteCloser, func() (string, error), error) {
	var out bytes.Buffer
	w, wait, err := t.Feed(ctx, "pg_restore", []string{"--list"}, &out)
	if err != nil {
		return nil, nil, err
	}
	return w, func() (string, error) { err := wait(); return out.String(), err }, nil
}

// Restore runs pg_restore of the archive in f into db with the given
// number of parallel jobs (parallel restore needs a seekable file). f is
// handed to pg_restore as its descriptor 3 and named /dev/fd/3: its
// parallel workers, forked from it, each open that again, so f needs no
// name on disk (archive.Unnamed) and nothing of it outlives us.
func (t Tools) Restore(ctx context.Context, db config.Database, f *os.File, jobs int, extra ...string) error {
	args := append([]string{"--no-password", "--exit-on-error", "--dbname=" + db.URL, "--jobs=" + strconv.Itoa(max(jobs, 1))}, extra...)
	return t.run(ctx, "pg_restore", append(args, "/dev/fd/3"), db, nil, io.Discard, f)
}

// RestoreStream runs a single-job pg_restore reading the archive from in
// (parallel restore needs a file; a stream is for when there is no room).
func (t Tools) RestoreStream(ctx context.Context, db config.Database, in io.Reader) error {
	args := []string{"--no-password", "--exit-on-error", "--dbname=" + db.URL}
	return t.run(ctx, "pg_restore", args, db, in, io.Discard)
}

// ApplySQL runs SQL read from in through psql against db, going on past
// errors (a role that exists already) and returning psql's stderr for the
// caller to show: the globals sidecar is applied this way.
func (t Tools) ApplySQL(ctx context.Context, db config.Database, in io.Reader) (string, error) {
	var errOut bytes.Buffer
	path, err := t.Path("psql")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, "--no-password", "--quiet", "--set=ON_ERROR_STOP=0", "--dbname="+db.URL, "--file=-")
	cmd.Env = childEnv(db.Password, t.AppName)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, io.Discard, &errOut
	err = cmd.Run()
	return errOut.String(), err
}

const pipeSize = 1 << 20

// batched reads a child's output a pipe-full at a time. pg_dump writes
// 4 KiB at once, and a reader faster than it woke for each write: 80,000
// wakeups for a 380 MB dump cost our process a third of a core and pg_dump
// a tenth (measured; docs/BENCHMARKS.md). After a short read it waits a
// millisecond for the pipe to fill: 1 MiB holds more than a millisecond of
// any pg_dump, so the child never waits for us. (An I/O pace, not a time
// anything is decided on: no clock.)
type batched struct{ r io.Reader }

func (b batched) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == nil && n < pipeSize/4 {
		time.Sleep(time.Millisecond)
	}
	return n, err
}

// onlyWriter hides any ReadFrom method, so that CopyBuffer uses our buffer.
type onlyWriter struct{ io.Writer }

// ExitError is a client program that ran and failed.
type ExitError struct {
	Program string
	Err     error  // from exec: exit status or signal
	Stderr  string // the end of what it printed on stderr
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", e.Program, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Program, e.Err, e.Stderr)
}

func (e *ExitError) Unwrap() error { return e.Err }

// run starts one program in its own process group and waits for it.
//
// files, when given, are the program's descriptors 3, 4, …
func (t Tools) run(ctx context.Context, name string, args []string, db config.Database, stdin io.Reader, stdout io.Writer, files ...*os.File) error {
	c, err := t.start(ctx, name, args, db, stdin, stdout, files...)
	if err != nil {
		return err
	}
	return c.wait()
}

// Feed starts a program that reads its input from the returned writer: a
// kernel pipe enlarged to 1 MiB that the caller writes into directly (no
// copying goroutine, no 32 KiB hops), for the archive checks that see
// every byte of a backup. Close the writer to end the input, then wait.
// Once the program has exited, writes fail (it read what it needed).
func (t Tools) Feed(ctx context.Context, name string, args []string, stdout io.Writer) (io.WriteCloser, func() error, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	c, err := t.start(ctx, name, args, config.Database{}, pr, stdout)
	pr.Close() // the child holds its copy
	if err != nil {
		pw.Close()
		return nil, nil, err
	}
	return pw, c.wait, nil
}

// child is a started program.
type child struct {
	name    string
	ctx     context.Context
	cmd     *exec.Cmd
	stderr  *tailBuffer
	copyOut func() error // nil: stdout is not ours to copy
	closeW  func()
}

func (t Tools) start(ctx context.Context, name string, args []string, db config.Database, stdin io.Reader, stdout io.Writer, files ...*os.File) (*child, error) {
	path, err := t.Path(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = childEnv(db.Password, t.AppName)
	cmd.Stdin = stdin
	cmd.ExtraFiles = files
	c := &child{name: name, ctx: ctx, cmd: cmd, stderr: &tailBuffer{}, closeW: func() {}}
	if stdout != nil && stdout != io.Discard {
		// Our own pipe, enlarged, read in large chunks: exec's default
		// (64 KiB pipe, 32 KiB copies) costs a context switch per chunk.
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, pipeSize)
		cmd.Stdout = pw
		c.copyOut = func() error {
			defer pr.Close()
			_, err := io.CopyBuffer(onlyWriter{stdout}, batched{pr}, make([]byte, pipeSize))
			return err
		}
		c.closeW = func() { pw.Close() }
	} else {
		cmd.Stdout = stdout
	}
	cmd.Stderr = c.stderr
	// Own process group so that a cancel kills pg_dump and anything it
	// started; Pdeathsig so that it dies with us even after a SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		c.closeW()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", name, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.closeW() // the child holds its copy; EOF comes when it exits
	return c, nil
}

// wait waits for the program and says how it ended.
func (c *child) wait() error {
	var copyErr error
	if c.copyOut != nil {
		copyErr = c.copyOut()
		if copyErr != nil {
			_ = c.cmd.Cancel() // the reader failed: the child must not block on a full pipe
		}
	}
	err := c.cmd.Wait()
	if copyErr != nil { // our side failed (disk full...): that is the cause, not the kill
		return fmt.Errorf("%s output: %w", c.name, copyErr)
	}
	if err == nil {
		return nil
	}
	if c.ctx.Err() != nil {
		return fmt.Errorf("%s: %w", c.name, context.Cause(c.ctx))
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return &ExitError{Program: c.name, Err: err, Stderr: c.stderr.String()}
	}
	return fmt.Errorf("%s: %w", c.name, err)
}

// childEnv is our environment without our own settings (which hold
// secrets a child has no use for) and with the password set for libpq, so
// that a child never sees another secret nor uses a stale password.
func childEnv(password, appName string) []string {
	if appName == "" {
		appName = "rgz-backup"
	}
	env := make([]string, 0, len(os.Environ())+3)
	for _, kv := range os.Environ() {
		if !hasAnyPrefix(kv, "PGPASSWORD=", "POSTGRES_", "BACKUP_", "SMTP_") {
			env = append(env, kv)
		}
	}
	env = append(env, "PGAPPNAME="+appName, "PGCONNECT_TIMEOUT=15")
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return env
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// tailBuffer keeps the last few KiB written to it: enough for an error
// message, bounded whatever a child prints.
type tailBuffer struct{ b []byte }

const tailMax = 4096

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	return strings.Join(strings.Fields(strings.TrimSpace(string(t.b))), " ")
}
