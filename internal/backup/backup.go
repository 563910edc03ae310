// Package backup is the use case "take one backup": lock, preflight,
// snapshot, pg_dump streamed through compression and checksums into a
// temporary file, full validation, atomic publication, sidecars, and one
// catalog row that says what happened, whatever happened.
package backup

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/disk"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/offsite"
	"github.com/mosaique/rgz-backup/internal/recovery"
	"github.com/mosaique/rgz-backup/internal/retention"
	"github.com/mosaique/rgz-backup/internal/toc"
	"github.com/mosaique/rgz-backup/internal/version"
)

// Options of one backup.
type Options struct {
	Config        config.Config
	TriggeredBy   catalog.Trigger // manual (CLI) when empty
	Attempt       int             // 1 for the first attempt of a run
	RunID         string          // shared by the attempts of one run; empty: new
	JobID         int64           // the daemon's job running this attempt; 0: none
	Progress      func(Progress)
	ProgressEvery time.Duration // default 1s
	Log           *slog.Logger
	Clock         clock.Clock // the real clock when nil
	// Target and Database name the backup when the service backs up
	// several databases (issue 16): the row says them from the start, so
	// that even an attempt that fails before reaching the server names its
	// database. Empty: today's one database (target "default", the
	// database named once its snapshot is taken).
	Target, Database string
	// SlotWait is how long a backup of one of several databases waits for
	// a free slot when BACKUP_MAX_PARALLEL_PER_SERVER or BACKUP_MAX_PARALLEL
	// backups run (then *lock.BusyError, and nothing was done).
	SlotWait time.Duration
	// Globals, when set, shares one dump of the server's globals among the
	// backups of a run (once per server); nil: this backup dumps its own.
	Globals *Globals
	// RetryAfter, when set, is how long after a failure of this attempt
	// its run's retry comes (the daemon's job: not its last attempt). The
	// failed row says when (retry_at) in the same write, so that no alert
	// ever sees the failure without the retry; a failure retrying cannot
	// heal (Permanent) has none.
	RetryAfter time.Duration
}

// several says whether this backup is one of several databases': its own
// lock and a slot, rather than the service's lock alone.
func (o Options) several() bool { return o.Target != "" || o.Database != "" }

// Progress is reported while pg_dump streams.
type Progress struct {
	RawBytes    int64 // read from pg_dump
	StoredBytes int64 // written to disk, compressed
	Elapsed     time.Duration
}

// ErrNotRecorded wraps failures that happened before the catalog could be
// reached, so no row says what happened.
var ErrNotRecorded = errors.New("this attempt could not be recorded in the catalog")

const mib = 1 << 20

// NotStarted says whether err means the backup did not start and nothing
// was done: another backup of the database holds its lock, or as many
// backups run as the limits allow (try again later).
func NotStarted(err error) bool {
	var held *lock.HeldError
	var busy *lock.BusyError
	return errors.As(err, &held) || errors.As(err, &busy)
}

// Run takes one backup and returns its catalog row. A failure returns the
// failed row (when the catalog could record it) and the error; a
// *lock.HeldError means another backup is running and nothing was done.
func Run(ctx context.Context, o Options) (catalog.Execution, error) {
	o.defaults()
	cfg := o.Config
	began := o.Clock.Now().UTC()
	started := began.Truncate(time.Second) // names the file
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Timeout, fmt.Errorf("timeout after %ds", int(cfg.Timeout.Seconds())))
	defer cancel()

	tools := dump.Tools{BinDir: cfg.PgBinDir, AppName: SessionName(o.RunID)}
	clientVersion := askVersion(ctx, tools) // while the catalog opens
	store, err := catalog.Open(ctx, cfg.Catalog)
	if err != nil {
		return catalog.Execution{}, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return catalog.Execution{}, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}

	r := &run{o: o, cfg: cfg, store: store, tools: tools, started: started, began: began, clientVersion: clientVersion}
	o.Log.Debug("catalog ready", "seconds", r.since().Seconds())
	if cfg.Encryption.On() {
		recipients, err := crypt.Recipients(cfg.Encryption.Recipients)
		if err == nil {
			r.enc, err = crypt.NewEncrypter(recipients)
		}
		if err != nil {
			return catalog.Execution{}, fmt.Errorf("%w: encryption: %w", ErrNotRecorded, err)
		}
	}
	r.row = r.newRow()
	if err := os.MkdirAll(cfg.LocalDir, 0o750); err != nil {
		return r.fail(ctx, fmt.Errorf("backup directory: %w", err))
	}
	plan, scope := lock.One(), recovery.Everything
	if o.several() {
		plan = lock.ForDatabase(o.Target, o.Database, cfg.Databases.MaxParallelPerServer, cfg.Databases.MaxParallel)
		scope = recovery.Scope{Target: o.Target, Database: o.Database}
	}
	release, err := lock.BothOf(ctx, cfg.LocalDir, cfg.Catalog, plan, o.SlotWait)
	if err != nil {
		if NotStarted(err) {
			return catalog.Execution{}, err // not a failed backup: another one is running
		}
		return r.fail(ctx, err)
	}
	defer release()
	abandoned, err := recovery.Abandoned(ctx, store, cfg.LocalDir, scope, o.Clock.Now(), o.Log)
	if err != nil {
		return r.fail(ctx, err)
	}
	r.endAbandonedSessions(ctx, abandoned)
	r.noteRescues(ctx, store, abandoned)
	if done, ok := r.alreadyDone(ctx); ok {
		r.row = done
	} else {
		// Backups of several databases run at once: the name is claimed and
		// the attempt begun as one step, so that no two take one name.
		err := store.WithNameLock(ctx, func() error {
			if err := r.claimName(ctx); err != nil {
				return err
			}
			host, _ := os.Hostname()
			return store.BeginAttempt(ctx, catalog.Attempt{Execution: r.row, StartedAt: began, Hostname: host, PID: os.Getpid(), JobID: o.JobID})
		})
		if err != nil {
			return r.fail(ctx, err)
		}
		o.Log.Debug("attempt begun", "file", r.row.Filename, "seconds", r.since().Seconds())
		if err := r.take(ctx); err != nil {
			if r.published {
				return r.unrecorded(err)
			}
			return r.fail(ctx, err)
		}
	}
	if len(cfg.AllDestinations()) > 0 {
		// The copies have a budget of their own: the backup is already
		// safe on disk, and a slow link must not make it fail.
		copyCtx, cancel := context.WithTimeoutCause(parent, cfg.Timeout, fmt.Errorf("copy timeout after %ds", int(cfg.Timeout.Seconds())))
		defer cancel()
		r.row = r.offsite(copyCtx)
	}
	return r.row, nil
}

// endAbandonedSessions ends what the server still holds of attempts whose
// process died (killed, out of memory): their pg_dump died with them, but a
// session that was queued for a table lock stays queued, holding the locks
// it already took (DDL on those tables waits behind it) until the lock
// comes or lock_timeout ends it. Those attempts were on this server (the
// recovery's scope is this target and database). Failing to end them is
// logged, not a reason to skip tonight's backup.
func (r *run) endAbandonedSessions(ctx context.Context, abandoned []catalog.Attempt) {
	done := map[string]bool{}
	for _, a := range abandoned {
		if a.Execution.RunID == nil || done[*a.Execution.RunID] {
			continue
		}
		done[*a.Execution.RunID] = true
		ended, err := endSessions(ctx, r.cfg.Database, SessionName(*a.Execution.RunID))
		switch {
		case err != nil:
			r.o.Log.Warn("could not end the server sessions of an abandoned attempt", "run_id", *a.Execution.RunID, "error", err)
		case ended > 0:
			r.o.Log.Warn("ended the server sessions an abandoned attempt left", "run_id", *a.Execution.RunID, "sessions", ended)
		}
	}
}

// alreadyDone finds the good row of this run when an earlier attempt wrote
// a valid backup that only now got recorded (by recovery.Abandoned): a retry
// then has nothing to take again.
func (r *run) alreadyDone(ctx context.Context) (catalog.Execution, bool) {
	if r.o.Attempt <= 1 {
		return catalog.Execution{}, false
	}
	row, err := r.store.GoodRowOfRun(ctx, r.o.RunID)
	if err != nil {
		return catalog.Execution{}, false
	}
	r.o.Log.Info("an earlier attempt of this run wrote a valid backup, now recorded: nothing to take again", "file", row.Filename)
	return row, true
}

// offsite copies the recorded backup to S3 and to every destination; a
// copy that fails leaves it partial, saying which.
func (r *run) offsite(ctx context.Context) catalog.Execution {
	places, err := offsite.Open(r.cfg)
	if err == nil {
		defer places.Close()
		var row catalog.Execution
		row, err = offsite.Keep(ctx, r.store, places, r.cfg, r.row, r.o.Log)
		if err == nil || row.Status == catalog.StatusPartial {
			return row
		}
	}
	r.o.Log.Error("a copy failed and the row could not say so", "error", err)
	return r.row
}

// ErrClientTooOld means pg_dump cannot dump this server: retrying will not help.
var ErrClientTooOld = errors.New("pg_dump is older than the server")

// CheckClientVersion applies pg_dump's rule: it dumps servers of its own
// major version or older, never newer ones.
func CheckClientVersion(clientMajor, serverMajor int) error {
	if clientMajor < serverMajor {
		return fmt.Errorf("%w: pg_dump %d cannot dump PostgreSQL %d; install postgresql-client-%d or point BACKUP_PG_BIN_DIR at its bin directory",
			ErrClientTooOld, clientMajor, serverMajor, serverMajor)
	}
	return nil
}

// Permanent says whether retrying cannot heal err: bad configuration, or a
// pg_dump too old for the server. A daemon retries every other failure.
func Permanent(err error) bool {
	var cfgErr *config.Error
	return errors.As(err, &cfgErr) || errors.Is(err, ErrClientTooOld)
}

func (o *Options) defaults() {
	if o.TriggeredBy == "" {
		o.TriggeredBy = catalog.TriggerManual
	}
	if o.Attempt == 0 {
		o.Attempt = 1
	}
	if o.RunID == "" {
		o.RunID = uuid.NewString()
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
}

// run is the state of one backup attempt.
type run struct {
	o     Options
	cfg   config.Config
	store *catalog.Store
	tools dump.Tools
	// clientVersion is what `pg_dump --version` said (asked at start).
	clientVersion func() (major int, line string, err error)
	started       time.Time // the backup date: second precision, names the file
	began         time.Time // exact, for durations
	row           catalog.Execution
	files         []string // sidecars written, removed again if the attempt fails
	// published: the validated dump has its final name. From then on the
	// attempt never fails in a way that deletes or disowns it.
	published bool
	// openedSessions: the attempt has reached the backed-up server, so a
	// failure must end its sessions there.
	openedSessions bool
	// enc encrypts the attempt's files (nil: encryption is off), and holds
	// the attempt's own validation key.
	enc *crypt.Encrypter
}

// newRow is the row as the attempt begins. Its name is the start's second
// until claimName, under the lock, makes sure no one else has it.
func (r *run) newRow() catalog.Execution {
	name := r.fileName(r.started)
	host, _ := os.Hostname()
	path := filepath.Join(r.cfg.LocalDir, name)
	format, level := r.cfg.CompressionFormat, r.cfg.CompressionLevel
	return catalog.Execution{
		ID: uuid.NewString(), BackupType: catalog.TypePgDump, BackupDate: r.started, Filename: name,
		FilePath: &path, RestoreTestStatus: catalog.TestNotTested, CompressionFormat: &format, CompressionLevel: &level,
		TriggeredBy: r.o.TriggeredBy, Hostname: &host, Attempt: r.o.Attempt, RunID: &r.o.RunID,
		RowCounts: map[string]int64{}, Warnings: []string{}, SuspectReasons: []string{},
		Encrypted: r.enc != nil, EncryptionRecipients: append([]string{}, r.cfg.Encryption.Recipients...),
		// Named from the start, even if the server is never reached: the
		// mail says which database failed.
		TargetName: cmp.Or(r.o.Target, catalog.DefaultTarget), DatabaseName: nonEmpty(cmp.Or(r.o.Database, r.cfg.Database.Name())),
		RgzVersion: nonEmpty(version.Get().Build()),
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// fileName is the dump's name for a backup taken at the second at: the
// compression's extension, then age's when encrypted (FILE.dump.gz.age:
// decrypt, then decompress).
func (r *run) fileName(at time.Time) string {
	name := at.Format(StemLayout) + archive.Extension(r.cfg.CompressionFormat)
	if r.enc != nil {
		name += crypt.Extension
	}
	return name
}

// sealing is how the attempt's files are written: encrypted when it is on.
func (r *run) sealing() []archive.Option {
	if r.enc == nil {
		return nil
	}
	return []archive.Option{archive.SealedBy(r.enc.Seal)}
}

// opening is how the attempt reads back what it wrote: with its own
// validation key when encrypted, so that a host with no identity still
// validates every byte before publishing.
func (r *run) opening() []archive.ReadOption {
	if r.enc == nil {
		return nil
	}
	return []archive.ReadOption{archive.OpenedBy(r.enc.Validation().Open)}
}

// take does the work between the locks. Any error it returns fails the attempt.
func (r *run) take(ctx context.Context) error {
	if err := r.checkFreeSpace(); err != nil {
		return err
	}
	snap, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.close()
	globals := r.fetchGlobals(ctx)
	w, got, err := r.stream(ctx, snap)
	if err != nil {
		globals() // pg_dumpall is quick; nothing of ours outlives the attempt
		return err
	}
	defer w.Abort() // does nothing once committed
	return r.publish(ctx, w, got, globals())
}

func (r *run) checkFreeSpace() error {
	usage, err := disk.UsageOf(r.cfg.LocalDir)
	if err != nil {
		return err
	}
	if need := uint64(r.cfg.MinFreeSpaceGB) << 30; usage.Free < need {
		return fmt.Errorf("insufficient disk space in %s: %.1f GB free < %d GB required (BACKUP_MIN_FREE_SPACE_GB)",
			r.cfg.LocalDir, float64(usage.Free)/(1<<30), r.cfg.MinFreeSpaceGB)
	}
	return nil
}

// snapshot exports the snapshot pg_dump will use, once pg_dump is known to
// be able to dump this server.
func (r *run) snapshot(ctx context.Context) (*snapshot, error) {
	r.openedSessions = true
	snap, err := openSnapshot(ctx, r.cfg.Database, r.tools.AppName, lockWaitOf(ctx))
	if err != nil {
		return nil, err
	}
	r.o.Log.Debug("snapshot exported", "snapshot", snap.ID, "seconds", r.since().Seconds())
	r.row.DatabaseName, r.row.ServerVersion = &snap.Database, &snap.ServerVersion
	clientMajor, clientLine, err := r.clientVersion()
	if err == nil {
		r.row.PgDumpVersion = &clientLine
		err = CheckClientVersion(clientMajor, snap.ServerMajor)
	}
	if err != nil {
		snap.close()
		return nil, err
	}
	return snap, nil
}

// askVersion runs `pg_dump --version` in the background; wait returns
// what it said.
func askVersion(ctx context.Context, tools dump.Tools) (wait func() (int, string, error)) {
	type answer struct {
		major int
		line  string
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		a.major, a.line, a.err = tools.Version(ctx, "pg_dump")
		done <- a
	}()
	var a *answer
	return func() (int, string, error) {
		if a == nil {
			got := <-done
			a = &got
		}
		return a.major, a.line, a.err
	}
}

// streamed is what the stream produced and the validation established.
type streamed struct {
	sums      archive.Sums
	counts    toc.Counts
	rowCounts map[string]int64
}

// stream runs pg_dump in the snapshot into a new temporary file, counting
// rows in the same snapshot meanwhile, and validates the file. It returns
// the closed, validated, not yet published file.
func (r *run) stream(ctx context.Context, snap *snapshot) (*archive.Writer, streamed, error) {
	w, err := archive.Create(r.cfg.LocalDir, r.row.Filename, r.cfg.CompressionFormat, r.cfg.CompressionLevel, r.sealing()...)
	if err != nil {
		return nil, streamed{}, err
	}
	// The validation reads the file back through its own descriptor while
	// it is being written, so that it costs no time after the stream.
	waitVerified, err := r.verifyWhileWriting(ctx, w)
	if err != nil {
		w.Abort()
		return nil, streamed{}, err
	}
	valid := false
	defer func() {
		if !valid {
			w.Abort() // also ends the follower
			waitVerified()
		}
	}()

	var got streamed
	var countErr error
	var counting sync.WaitGroup
	countCtx, stopCounting := context.WithCancel(ctx)
	defer stopCounting()
	counting.Go(func() {
		got.rowCounts, countErr = snap.countRows(countCtx)
		r.o.Log.Debug("rows counted", "tables", len(got.rowCounts), "seconds", r.since().Seconds())
	})
	stopProgress := r.reportProgress(ctx, w)
	lockWait := lockWaitOf(ctx)
	dumpErr := r.tools.Dump(ctx, r.cfg.Database, snap.ID, lockWait, w)
	if dumpErr != nil && ctx.Err() == nil && strings.Contains(dumpErr.Error(), "LOCK TABLE") {
		dumpErr = lockedTable("pg_dump", lockWait, dumpErr)
	}
	stopProgress()
	r.o.Log.Debug("pg_dump exited", "error", dumpErr, "seconds", r.since().Seconds())
	if dumpErr != nil {
		stopCounting() // the counts are of no use now
	}
	counting.Wait()
	closeErr := w.Close()
	snap.close() // pg_dump has its snapshot; free the server's
	switch {
	case dumpErr != nil:
		return nil, got, dumpErr
	case countErr != nil:
		var pgErr *pgconn.PgError
		if errors.As(countErr, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: lock_timeout ended the wait
			countErr = lockedTable("the row count", lockWait, countErr)
		}
		return nil, got, countErr
	case closeErr != nil:
		return nil, got, closeErr
	}
	got.sums = w.Sums()
	r.o.Log.Info("dump streamed", "file", r.row.Filename, "raw_bytes", got.sums.RawSize, "stored_bytes", got.sums.Size,
		"seconds", r.since().Seconds())

	if floor := int64(r.cfg.MinSizeMB) * mib; got.sums.Size < floor {
		return nil, got, fmt.Errorf("backup too small: %d bytes < %d MB (BACKUP_MIN_SIZE_MB): is the database empty?", got.sums.Size, r.cfg.MinSizeMB)
	}
	v := waitVerified()
	if v.err != nil {
		return nil, got, fmt.Errorf("validate %s: %w", r.row.Filename, v.err)
	}
	if diffs := archive.Compare(got.sums, v.sums); len(diffs) > 0 {
		return nil, got, fmt.Errorf("validate %s: file on disk differs from what was written: %s", r.row.Filename, strings.Join(diffs, "; "))
	}
	if v.counts.TableData == 0 {
		return nil, got, fmt.Errorf("validate %s: the archive holds no table data", r.row.Filename)
	}
	got.counts = v.counts
	r.o.Log.Info("validated", "file", r.row.Filename, "seconds", r.since().Seconds())
	valid = true
	return w, got, nil
}

// publish writes the sidecars, gives the validated file its name, and
// records the row. The order is what makes every stop safe: the .sha256,
// the globals and the manifest come first, the dump's name last, so that a
// dump under its final name always has the manifest that proves it valid.
// From then on (r.published) nothing deletes it: a row that cannot be
// written is written later, from the manifest (recovery.Abandoned, records.Rebuild).
func (r *run) publish(ctx context.Context, w *archive.Writer, got streamed, globals fetchedGlobals) error {
	r.setSums(got.sums)
	r.row.ObjectCounts, r.row.RowCounts = got.counts, got.rowCounts
	r.classify(ctx, got)
	r.writeGlobals(globals)
	r.row.Status = catalog.StatusSuccess
	r.finish()
	path := *r.row.FilePath
	if err := r.writeSHA256(path, got.sums); err != nil {
		return err
	}
	if err := r.writeManifest(path); err != nil {
		return err
	}
	if _, err := w.Commit(); err != nil {
		if _, statErr := os.Stat(path); statErr != nil {
			return err // not published: the sidecars go with the attempt
		}
		r.o.Log.Warn("backup published, but the publication reported a problem", "file", r.row.Filename, "error", err)
	}
	r.published = true
	// The backup is done: recording it is worth a few seconds past the
	// attempt's deadline.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := r.store.Insert(recordCtx, &r.row); err != nil {
		return err
	}
	r.o.Log.Info("backup recorded", "file", r.row.Filename, "seconds", r.since().Seconds())
	if r.row.Suspect {
		r.o.Log.Warn("backup is suspect", "file", r.row.Filename, "reasons", r.row.SuspectReasons)
	}
	return nil
}

// recordTimeout bounds writing a row once the attempt's own time is up.
const recordTimeout = 15 * time.Second

// classify compares the new backup with the recent good ones (suspicion)
// and decides its retention class. They come from the catalog or, when it
// cannot be read, from the manifests in the backup directory: a catalog
// hiccup must not cost a valid backup (retention's promotions correct a
// class later if the manifests did not know enough).
func (r *run) classify(ctx context.Context, got streamed) {
	y, m, _ := r.started.Date()
	monthStart := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	// With several databases, a backup is compared with its own database's
	// (a small database after a large one is no "sudden drop").
	recent, err := r.store.List(ctx, catalog.Filter{Status: catalog.StatusSuccess, Limit: 7, Target: r.o.Target, Database: r.o.Database})
	var sameMonth []catalog.Execution
	if err == nil {
		sameMonth, err = r.store.List(ctx, catalog.Filter{Since: monthStart})
	}
	if err != nil {
		r.warn("the catalog could not be read to classify this backup (%v); classified from the manifests in %s", err, r.cfg.LocalDir)
		recent, sameMonth = fromManifests(r.cfg.LocalDir, monthStart)
	}
	r.row.SuspectReasons = Suspicions(got.sums.RawSize, got.counts.Tables, recent)
	r.row.Suspect = len(r.row.SuspectReasons) > 0
	r.row.RetentionClass = retention.ClassOf(r.row, sameMonth)
	until := catalog.Date{Time: retention.Expiry(r.started, r.row.RetentionClass, r.cfg.LocalRetentionDays, r.cfg.CriticalRetentionDays)}
	r.row.RetentionUntil = &until
}

// fromManifests is what classify needs, read from the manifests in dir:
// the 7 newest successful backups, and the backups since monthStart.
func fromManifests(dir string, monthStart time.Time) (recent, sameMonth []catalog.Execution) {
	rows, _, _ := layout.Manifests(dir) // unreadable: no history, no suspicion
	for _, row := range rows {
		if row.Status == catalog.StatusSuccess && len(recent) < 7 {
			recent = append(recent, row)
		}
		if !row.BackupDate.Before(monthStart) {
			sameMonth = append(sameMonth, row)
		}
	}
	return recent, sameMonth
}

type verification struct {
	sums   archive.Sums
	counts toc.Counts
	err    error
}

// verifyWhileWriting starts checking the file as w writes it; the function
// it returns waits for the verdict (call it after w is closed or aborted).
func (r *run) verifyWhileWriting(ctx context.Context, w *archive.Writer) (func() verification, error) {
	follow, err := w.Follow()
	if err != nil {
		return nil, err
	}
	verified := make(chan verification, 1)
	go func() {
		defer follow.Close()
		sums, counts, err := filecheck.Stream(ctx, r.tools, follow, r.cfg.CompressionFormat, r.opening()...)
		verified <- verification{sums, counts, err}
	}()
	return sync.OnceValue(func() verification { return <-verified }), nil
}

// since is how long the attempt has run, for logs and progress.
func (r *run) since() time.Duration { return r.o.Clock.Now().Sub(r.began) }

func (r *run) setSums(s archive.Sums) {
	size, crc, sha, raw, rawCRC := s.Size, s.CRC32Hex(), s.SHA256Hex(), s.RawSize, s.RawCRC32Hex()
	r.row.FileSizeBytes, r.row.ChecksumCRC32, r.row.ChecksumSHA256 = &size, &crc, &sha
	r.row.UncompressedSizeBytes, r.row.UncompressedChecksumCRC32 = &raw, &rawCRC
}

// finish stamps the row just before it is written. Times are cut to the
// microsecond, PostgreSQL's precision, so the manifest and the row agree.
func (r *run) finish() {
	end := r.o.Clock.Now().UTC().Truncate(time.Microsecond)
	secs := int(end.Sub(r.began).Round(time.Second).Seconds())
	r.row.FinishedAt, r.row.DurationSeconds, r.row.CreatedAt = &end, &secs, end
}

// progressRecordEvery is how often a running attempt's progress is noted
// in the catalog, for the console (from any replica).
const progressRecordEvery = 2 * time.Second

// reportProgress calls Options.Progress every ProgressEvery, and notes the
// progress in the catalog every progressRecordEvery, until stopped.
func (r *run) reportProgress(ctx context.Context, w *archive.Writer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		every := progressRecordEvery
		if r.o.Progress != nil {
			every = min(every, r.o.ProgressEvery)
		}
		t := time.NewTicker(every)
		defer t.Stop()
		var recorded time.Time
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := Progress{RawBytes: w.RawBytes(), StoredBytes: w.StoredBytes(), Elapsed: r.since()}
				if r.o.Progress != nil {
					r.o.Progress(p)
				}
				if now := r.o.Clock.Now(); now.Sub(recorded) >= progressRecordEvery {
					recorded = now
					if err := r.store.RecordProgress(ctx, r.row.ID, p.RawBytes, p.StoredBytes, now); err != nil {
						r.o.Log.Debug("progress not recorded", "error", err)
					}
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// fail records the attempt as failed and removes the sidecars it wrote;
// it is never called once the dump is published (see unrecorded). When the
// catalog cannot take the row, a note in the backup directory keeps the
// real cause for the next run to record (recovery.Abandoned).
func (r *run) fail(ctx context.Context, cause error) (catalog.Execution, error) {
	for _, f := range r.files {
		os.Remove(f)
	}
	if cerr := context.Cause(ctx); cerr != nil && !strings.Contains(cause.Error(), cerr.Error()) {
		cause = fmt.Errorf("%w: %w", cerr, cause)
	}
	// Whatever failed, no session of this run may stay on the server
	// (queued behind a lock, holding others): timeout, cancel, shutdown.
	if r.openedSessions {
		if ended, err := endSessions(ctx, r.cfg.Database, r.tools.AppName); err != nil {
			r.o.Log.Warn("the run's server sessions could not be ended", "application_name", r.tools.AppName, "error", err)
		} else if ended > 0 {
			r.o.Log.Warn("ended server sessions the failed attempt left", "sessions", ended, "application_name", r.tools.AppName)
		}
	}
	msg := cause.Error()
	r.row.Status, r.row.ErrorMessage = catalog.StatusFailed, &msg
	r.row.FileSizeBytes, r.row.ChecksumCRC32, r.row.ChecksumSHA256, r.row.RetentionUntil = nil, nil, nil, nil
	r.row.FilePath = nil // a failed attempt owns no file
	r.finish()
	if r.o.RetryAfter > 0 && !Permanent(cause) {
		at := r.o.Clock.Now().UTC().Add(r.o.RetryAfter)
		r.row.RetryAt = &at
	}
	// The attempt's context may be what failed (timeout, cancel): record anyway.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := r.store.Insert(recordCtx, &r.row); err != nil {
		r.o.Log.Error("backup failed and the failure could not be recorded", "error", err)
		if nerr := layout.WriteFailureNote(r.cfg.LocalDir, r.row); nerr != nil {
			r.o.Log.Error("the failure could not be noted for the next run either", "error", nerr)
		}
		return r.row, fmt.Errorf("%w (%w: %w)", cause, ErrNotRecorded, err)
	}
	return r.row, cause
}

// ErrUnrecorded means the backup is written and valid, and only its row is
// missing: the next run, the daemon's recovery or `catalog rebuild`
// records it from its manifest. Nothing is wrong with the backup itself.
var ErrUnrecorded = errors.New("written and valid, not yet recorded in the catalog")

// Reported is the row as people are told of it (mail, webhook): a backup
// written and valid but not yet recorded is reported as a failure whose
// reason says exactly that, so that someone checks the catalog.
func Reported(row catalog.Execution, err error) catalog.Execution {
	if errors.Is(err, ErrUnrecorded) {
		msg := err.Error()
		row.Status, row.ErrorMessage = catalog.StatusFailed, &msg
	}
	return row
}

// unrecorded ends an attempt whose valid backup the catalog did not take:
// the files and the attempt's row stay, for recovery.Abandoned.
func (r *run) unrecorded(cause error) (catalog.Execution, error) {
	err := fmt.Errorf("backup %s is %w (%w); the next backup, the daemon or `rgz-backup catalog rebuild` records it from its manifest",
		r.row.Filename, ErrUnrecorded, cause)
	r.o.Log.Error("backup written and valid, but not recorded", "file", r.row.Filename, "error", cause)
	return r.row, err
}

// writeSHA256 writes FILE.sha256, which `sha256sum -c` accepts.
func (r *run) writeSHA256(path string, s archive.Sums) error {
	p, err := layout.WriteSHA256(path, s)
	if err != nil {
		return err
	}
	r.files = append(r.files, p)
	return nil
}

func (r *run) writeManifest(path string) error {
	p, err := layout.WriteManifest(path, r.row)
	if err != nil {
		return err
	}
	r.files = append(r.files, p)
	return nil
}

// fetchedGlobals are the cluster's roles and tablespaces, as pg_dumpall
// gave them (or the run's share of them, with several databases).
type fetchedGlobals struct {
	data             []byte
	withoutPasswords bool
	err              error
}

// fetchGlobals asks for the globals in the background, so that they come
// while pg_dump runs rather than after it; wait returns them.
func (r *run) fetchGlobals(ctx context.Context) (wait func() fetchedGlobals) {
	done := make(chan fetchedGlobals, 1)
	go func() {
		var g fetchedGlobals
		if r.o.Globals == nil {
			var buf bytes.Buffer
			g.withoutPasswords, g.err = r.tools.DumpGlobals(ctx, r.cfg.Database, &buf)
			g.data = buf.Bytes()
		} else {
			var first bool
			g.data, g.withoutPasswords, first, g.err = r.o.Globals.get(ctx, r.o.Target, func(ctx context.Context, out io.Writer) (bool, error) {
				return r.tools.DumpGlobals(ctx, r.cfg.Database, out)
			})
			if first && g.err == nil {
				r.o.Log.Info("globals dumped once for the run's backups of this server", "target", r.o.Target, "bytes", len(g.data))
			}
		}
		done <- g
	}()
	return func() fetchedGlobals { return <-done }
}

// writeGlobals writes the cluster's roles and tablespaces beside the dump.
// A failure is a warning on the row: the database itself is safe without it.
func (r *run) writeGlobals(g fetchedGlobals) {
	if g.err != nil {
		r.warn("globals (roles, tablespaces) not saved: %v", g.err)
		return
	}
	name := layout.GlobalsName(r.row.Filename)
	if r.enc != nil {
		name += crypt.Extension // role password hashes: never in plaintext
	}
	w, err := archive.Create(r.cfg.LocalDir, name, archive.Gzip, 9, r.sealing()...)
	if err != nil {
		r.warn("globals (roles, tablespaces) not saved: %v", err)
		return
	}
	defer w.Abort()
	_, err = w.Write(g.data)
	if err == nil {
		err = w.Close()
	}
	var path string
	if err == nil {
		path, err = w.Commit()
	}
	if err != nil {
		r.warn("globals (roles, tablespaces) not saved: %v", err)
		return
	}
	r.files = append(r.files, path)
	r.row.GlobalsFilename = &name
	if g.withoutPasswords {
		r.warn("globals saved without role passwords: the backup role may not read pg_authid")
	}
}

func (r *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.row.Warnings = append(r.row.Warnings, msg)
	r.o.Log.Warn(msg)
}

// lockedTable is the failure of an attempt that a table held by another
// session stopped, in one wording whoever waited for it (docs/BACKUP-PIPELINE.md
// quotes it).
func lockedTable(who string, wait time.Duration, err error) error {
	return fmt.Errorf("a table is locked by another session: %s waited %s for it (80%% of the time left, BACKUP_TIMEOUT_SECONDS): %w",
		who, wait.Round(time.Millisecond), err)
}

// noteRescues records, on each abandoned attempt that a daemon's job ran,
// when River will rescue that job and run it again: its run goes on, so
// its row is no failed run (no alert) until that retry is overdue. The
// daemon's own start (jobs.Recover) continues such runs sooner.
func (r *run) noteRescues(ctx context.Context, store *catalog.Store, abandoned []catalog.Attempt) {
	for _, a := range abandoned {
		if a.JobID == 0 {
			continue // a CLI run: nothing retries it
		}
		due := a.StartedAt.Add(r.cfg.StuckJobRescue() + r.cfg.RetryDelays[0])
		if err := store.SetRetryAt(ctx, a.Execution.ID, due); err != nil {
			r.o.Log.Warn("the abandoned attempt's retry time was not recorded", "file", a.Execution.Filename, "error", err)
		}
	}
}
