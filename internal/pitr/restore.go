package pitr

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/sealed"
)

// RestoreOptions say what to restore where.
type RestoreOptions struct {
	Config   config.Config
	Catalog  *catalog.Store // nil: the catalog is gone (the places' listings say what the archive holds)
	SystemID uint64         // 0: the only one the archive holds
	Target   pitrplan.Target
	// ServerTarget is the targets file's server whose settings (places,
	// keys) the archive is read with, passed on to restore_command; "":
	// the environment's.
	ServerTarget string
	DataDir      string // must not exist, or be empty
	Port         int
	Pause        bool // leave the cluster paused at the target instead of promoting it
	// Scratch is a throwaway copy for a restore test: it takes no
	// connection but from this OS user, through its socket in the private
	// data directory (pg_hba.conf: trust there, nothing else), as User.
	Scratch bool
	User    string // the role that connects to the restored cluster; "": the OS user's name
	Self    string // this program, for restore_command
	Tools   dump.Tools
	Clock   clock.Clock
	Log     *slog.Logger
	// Wait is how long recovery may take to reach the target; 0: a day.
	Wait time.Duration
}

// Restored is what a restore reached.
type Restored struct {
	SystemID      uint64          `json:"system_id,string"`
	Target        string          `json:"target"`
	Window        pitrplan.Window `json:"-"`
	BaseBackup    string          `json:"base_backup"`
	ReachedLSN    string          `json:"reached_lsn"`
	ReachedTime   *time.Time      `json:"reached_time"` // the last transaction replayed
	Timeline      uint32          `json:"timeline"`
	Paused        bool            `json:"paused"`
	FetchSeconds  float64         `json:"fetch_seconds"`
	ReplaySeconds float64         `json:"replay_seconds"`
	DataDir       string          `json:"data_dir"`
	Port          int             `json:"port"`
	StopCommand   string          `json:"stop_command"`
}

// ErrRoot is Restore's error when run as root: PostgreSQL refuses to.
var ErrRoot = errors.New("PostgreSQL refuses to run as root: run rgz-backup pitr restore as the user that will own the restored cluster (for example: sudo -u postgres rgz-backup pitr restore …)")

// Restore restores the archive to o.Target into o.DataDir and leaves the
// cluster running on o.Port: it chooses the base backup (refusing, before
// touching anything, a target outside the window), fetches and checks it,
// writes the recovery settings (restore_command: rgz-backup pitr
// wal-fetch), starts PostgreSQL and waits until recovery reaches the
// target, then promotes it (or leaves it paused).
func Restore(ctx context.Context, o RestoreOptions) (Restored, error) {
	clk := clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if os.Geteuid() == 0 {
		return Restored{}, ErrRoot
	}
	arch, id, err := Load(ctx, o.Config, o.Catalog, o.SystemID)
	if err != nil {
		return Restored{}, err
	}
	w, err := pitrplan.Choose(arch.Windows(), o.Target)
	if err != nil {
		return Restored{}, err
	}
	out := Restored{SystemID: id, Target: o.Target.String(), Window: w, BaseBackup: w.Base.Label, DataDir: o.DataDir, Port: o.Port}
	if err := emptyDir(o.DataDir); err != nil {
		return out, err
	}
	if o.Scratch {
		if abs, err := filepath.Abs(o.DataDir); err != nil || socketDir(abs) != abs {
			return out, fmt.Errorf("%s: too long a path for the restored server's socket (at most 80 bytes)", o.DataDir)
		}
	}
	var dec *crypt.Decrypter
	if w.Base.Encrypted {
		if dec, err = crypt.IdentityFile(o.Config.Encryption.IdentityFile); err != nil {
			return out, fmt.Errorf("BACKUP_ENCRYPTION_IDENTITY_FILE: %w", err)
		}
		if dec == nil {
			return out, errors.New("the base backup is encrypted: set BACKUP_ENCRYPTION_IDENTITY_FILE to an identity of its recipients")
		}
	}
	places, err := OpenPlaces(o.Config)
	if err != nil {
		return out, err
	}
	defer places.Close()

	began := clk.Now()
	o.Log.Info("point-in-time recovery: fetching the base backup", "label", w.Base.Label, "into", o.DataDir)
	if err := fetchBase(ctx, places.Stores, w.Base, dec, o.DataDir); err != nil {
		return out, fmt.Errorf("base backup %s: %w", w.Base.Label, err)
	}
	out.FetchSeconds = clk.Now().Sub(began).Seconds()
	if err := writeRecovery(o, id); err != nil {
		return out, err
	}
	replay := clk.Now()
	if err := startServer(ctx, o); err != nil {
		return out, err
	}
	out.StopCommand = stopCommand(o)
	if err := awaitTarget(ctx, o, &out); err != nil {
		return out, err
	}
	if !o.Pause { // promoted: the segments fetched ahead are no use any more
		_ = os.RemoveAll(filepath.Join(o.DataDir, "pg_wal", PrefetchDir))
	}
	out.ReplaySeconds = clk.Now().Sub(replay).Seconds()
	return out, nil
}

// emptyDir makes dir, private, or checks that it is empty.
func emptyDir(dir string) error {
	if dir == "" {
		return errors.New("--data-dir: a directory is needed")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("--data-dir %s is not empty: a restore never writes over files", dir)
	}
	return os.Chmod(dir, 0o700)
}

// fetchBase unpacks the base backup into dir from the first place that
// holds a copy matching the catalog; a copy that fails half-way is
// cleared before the next place is tried.
func fetchBase(ctx context.Context, stores []destination.Store, b pitrplan.Base, dec *crypt.Decrypter, dir string) error {
	var done chan error
	var pw *io.PipeWriter
	sink := func() (io.Writer, error) {
		if done != nil { // an earlier place's copy failed: start again
			pw.CloseWithError(errors.New("abandoned"))
			<-done
			if err := clearDir(dir); err != nil {
				return nil, err
			}
		}
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		done = make(chan error, 1)
		go func() {
			err := untar(pr, dir)
			pr.CloseWithError(err)
			done <- err
		}()
		return pw, nil
	}
	err := sealed.Fetch(ctx, stores, b.Key, archive.Format(b.Format), dec, sealed.Expect{StoredSHA256: b.StoredSHA256}, sink)
	if done == nil {
		return err
	}
	if err != nil {
		pw.CloseWithError(err)
		<-done
		return err
	}
	pw.Close()
	return <-done
}

func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// untar writes the tar read from r into dir. Its names come from a file
// in the archive, untrusted: each must be a relative path that stays in
// dir; only directories and regular files are written.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the tar: %w", err)
		}
		name := path.Clean(h.Name)
		if name == "." || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || strings.ContainsRune(name, 0) {
			return fmt.Errorf("the tar holds %q, a name outside the data directory: not restored", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("the tar holds %q of type %q: only directories and files are restored (tablespaces are not supported yet)", h.Name, h.Typeflag)
		}
	}
}

// WALFetchExitUnreachable is rgz-backup pitr wal-fetch's exit status when
// the archive could not be read: above 125, which PostgreSQL takes as
// "stop recovery" rather than "no such file" (which would end recovery
// early, at a point before the target, and lose what follows).
const WALFetchExitUnreachable = 255

// writeRecovery writes the settings that make the restored cluster
// replay the archive to the target: appended to postgresql.auto.conf (so
// they win over the source's), and recovery.signal.
func writeRecovery(o RestoreOptions, id uint64) error {
	conf := filepath.Join(o.DataDir, "postgresql.conf")
	if _, err := os.Stat(conf); errors.Is(err, os.ErrNotExist) {
		// The server's configuration lived outside its data directory
		// (Debian's /etc/postgresql): start from PostgreSQL's defaults.
		if err := os.WriteFile(conf, []byte("# written by rgz-backup pitr restore: the source's configuration was not in its data directory\n"), 0o600); err != nil {
			return err
		}
	}
	for _, f := range []string{"pg_hba.conf", "pg_ident.conf"} {
		p := filepath.Join(o.DataDir, f)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) || o.Scratch {
			content := ""
			switch {
			case f == "pg_hba.conf" && o.Scratch:
				// The socket is in the data directory, which only this
				// OS user can enter; no TCP (listen_addresses).
				content = "# written by rgz-backup's restore test: only its OS user reaches the socket\nlocal all all trust\n"
			case f == "pg_hba.conf":
				content = "# written by rgz-backup pitr restore\nlocal all all peer\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				return err
			}
		}
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	// A server in recovery needs these at least as high as the source
	// had them; its configuration may not be in the data directory, but
	// pg_control says what they were.
	pgcontrol, err := o.Tools.Path("pg_controldata")
	if err != nil {
		return err
	}
	control, err := exec.Command(pgcontrol, o.DataDir).Output()
	if err != nil {
		return fmt.Errorf("pg_controldata: %w", err)
	}
	fetch := fmt.Sprintf("%s pitr wal-fetch --system-id %d %%f %%p", shellQuote(o.Self), id)
	if o.ServerTarget != "" {
		fetch = fmt.Sprintf("%s pitr wal-fetch --target %s --system-id %d %%f %%p", shellQuote(o.Self), shellQuote(o.ServerTarget), id)
	}
	lines := []string{
		"", "# rgz-backup pitr restore, " + o.Target.String(),
		"port = " + strconv.Itoa(o.Port),
		"listen_addresses = " + quote(map[bool]string{false: "localhost", true: ""}[o.Scratch]),
		"unix_socket_directories = " + quote(socketDir(o.DataDir)),
		"archive_mode = off", // a restored copy never archives into the production archive
		"hot_standby = on",
		"restore_command = " + quote(fetch),
		"recovery_target_timeline = 'latest'",
	}
	lines = append(lines, RecoverySettings(string(control))...)
	if o.Scratch {
		// A throwaway copy does nothing beyond itself once promoted: no
		// subscription reaching its publishers, no library the source
		// preloads (pg_cron's jobs, pg_net's requests), no standby
		// connection, and a small share of the backup host's memory.
		lines = append(lines, "max_logical_replication_workers = 0", "shared_preload_libraries = ''", "primary_conninfo = ''",
			"primary_slot_name = ''", "shared_buffers = '128MB'")
	}
	switch {
	case o.Target.Latest:
	case o.Target.LSN != 0:
		lines = append(lines, "recovery_target_lsn = "+quote(o.Target.LSN.String()))
	default:
		lines = append(lines, "recovery_target_time = "+quote(o.Target.Time.UTC().Format("2006-01-02 15:04:05.999999")+"+00"))
	}
	action := "promote"
	if o.Pause {
		action = "pause"
	}
	lines = append(lines, "recovery_target_action = "+quote(action), "")
	f, err := os.OpenFile(filepath.Join(o.DataDir, "postgresql.auto.conf"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(strings.Join(lines, "\n")); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, stale := range []string{"standby.signal", "postmaster.pid"} {
		_ = os.Remove(filepath.Join(o.DataDir, stale))
	}
	return os.WriteFile(filepath.Join(o.DataDir, "recovery.signal"), nil, 0o600)
}

// socketDir is where the restored server's socket goes: its data
// directory, unless the path is too long for a socket's name.
func socketDir(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err == nil && len(abs) < 80 {
		return abs
	}
	return os.TempDir()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

func logFile(o RestoreOptions) string { return filepath.Join(o.DataDir, "rgz-restore.log") }

func startServer(ctx context.Context, o RestoreOptions) error {
	pgctl, err := o.Tools.Path("pg_ctl")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, pgctl, "start", "--no-wait", "--pgdata="+o.DataDir, "--log="+logFile(o))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func stopCommand(o RestoreOptions) string {
	pgctl, err := o.Tools.Path("pg_ctl")
	if err != nil {
		pgctl = "pg_ctl"
	}
	return fmt.Sprintf("%s stop --pgdata=%s", pgctl, shellQuote(o.DataDir))
}

// awaitTarget waits until recovery has reached the target (promoted, or
// paused there) and reads where it stopped; a server that exits meanwhile
// is a failure, told with its log's last errors.
func awaitTarget(ctx context.Context, o RestoreOptions, out *Restored) error {
	wait := o.Wait
	if wait <= 0 {
		wait = 24 * time.Hour
	}
	deadline := time.Now().Add(wait)
	dsn := SocketURL(o, "postgres")
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("recovery did not reach the target within %s (log: %s)", wait, logFile(o))
		}
		if !running(o.DataDir, logFile(o)) {
			return fmt.Errorf("the restored server stopped: %s", logErrors(logFile(o)))
		}
		done, err := reached(ctx, dsn, o.Pause, out)
		if err == nil && done {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// SocketURL is the restored server's database db, through its socket,
// as o.User.
func SocketURL(o RestoreOptions, db string) string {
	u := fmt.Sprintf("postgres:///%s?host=%s&port=%d&sslmode=disable", url.PathEscape(db), url.QueryEscape(socketDir(o.DataDir)), o.Port)
	if o.User != "" {
		u += "&user=" + url.QueryEscape(o.User)
	}
	return u
}

// running says whether the data directory's postmaster is alive: its
// pid file names a live process, or it has none yet and has logged no
// fatal error (a server that refuses its configuration writes none).
func running(dataDir, log string) bool {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		text, _ := os.ReadFile(log)
		return !strings.Contains(string(text), "FATAL:") && !strings.Contains(string(text), "PANIC:")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return true
	}
	return syscall.Kill(pid, 0) == nil
}

func reached(ctx context.Context, dsn string, pause bool, out *Restored) (bool, error) {
	connCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(connCtx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var inRecovery bool
	var state, lsn string
	var at *time.Time
	var tli int64
	err = conn.QueryRow(connCtx, `SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE '' END,
		coalesce(pg_last_wal_replay_lsn()::text, ''), pg_last_xact_replay_timestamp(),
		CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint())
		ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint END`).Scan(&inRecovery, &state, &lsn, &at, &tli)
	if err != nil {
		return false, err
	}
	if pause && !(inRecovery && state == "paused") || !pause && inRecovery {
		return false, nil
	}
	out.Paused, out.ReachedLSN, out.ReachedTime, out.Timeline = inRecovery, lsn, at, uint32(tli)
	return true, nil
}

// logErrors are the FATAL and PANIC lines of the server's log, or its end.
func logErrors(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log (" + err.Error() + ")"
	}
	var out []string
	restored := ""
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "is starting up"), strings.Contains(line, "not yet accepting connections"):
			// our own connection attempts while it recovers
		case strings.Contains(line, "FATAL:") || strings.Contains(line, "PANIC:"),
			// where the WAL ended: what a person needs beside the error
			strings.Contains(line, "redo done at"), strings.Contains(line, "last completed transaction was at"):
			out = append(out, strings.TrimSpace(line))
		case strings.Contains(line, "restored log file"):
			restored = strings.TrimSpace(line)
		}
	}
	if restored != "" && len(out) > 0 {
		out = append(out, "the last WAL file restored: "+restored)
	}
	if len(out) == 0 {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		out = lines[max(0, len(lines)-5):]
	}
	return strings.Join(out, "; ") + " (log: " + path + ")"
}

// controlSettings are pg_controldata's names of the settings a standby
// needs at least as high as its source's, and theirs.
var controlSettings = map[string]string{
	"max_connections setting":      "max_connections",
	"max_worker_processes setting": "max_worker_processes",
	"max_wal_senders setting":      "max_wal_senders",
	"max_prepared_xacts setting":   "max_prepared_transactions",
	"max_locks_per_xact setting":   "max_locks_per_transaction",
}

// RecoverySettings are the lines of postgresql.conf that give a restored
// cluster the source's values of the settings recovery requires (read
// from pg_controldata's output), in a stable order.
func RecoverySettings(controldata string) []string {
	var out []string
	for _, line := range strings.Split(controldata, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		setting, known := controlSettings[strings.TrimSpace(name)]
		value = strings.TrimSpace(value)
		if _, err := strconv.Atoi(value); known && err == nil {
			out = append(out, setting+" = "+value)
		}
	}
	slices.Sort(out)
	return out
}
