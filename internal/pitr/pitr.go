// Package pitr is point-in-time recovery's use case (issue 28,
// docs/PITR.md), wiring the pieces below it: on the daemon's side, one
// holder across every replica streams a server's WAL into the archive
// (walstream, walship) and records each file in the catalog; on the
// command line's, what the archive holds.
package pitr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/basebackup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/wal"
	"github.com/mosaique/rgz-backup/internal/walship"
	"github.com/mosaique/rgz-backup/internal/walstream"
)

// SpoolDir is where pg_receivewal writes, under BACKUP_LOCAL_DIR: hidden,
// so that the backup directory's listings never take it for a copy.
const SpoolDir = ".pitr-spool"

// Format and Level are how the archive's files are compressed, whatever
// BACKUP_COMPRESSION_FORMAT says of the dumps: every WAL segment is
// compressed as it comes, at the server's pace, and gzip at the dumps'
// level 9 takes a core for 20-30 MB/s; zstd compresses WAL better than
// gzip -6 at several times its speed. Base backups use level 3 (the
// encoder's default speed: a weekly burst of the whole cluster); WAL uses
// WALLevel, the encoder's "better" speed: on pgbench's WAL it makes 1.2 %
// less than level 3 (which is 2.4 % more than libzstd's level 3, what
// pgBackRest writes) at 69 MB/s on one core, still more than 20 times the
// WAL rate of docs/BENCHMARKS.md's run, for 4 MB more memory. The "best"
// speed would make 13 % less but takes 30 MB more and a core for 19 MB/s.
// The by-hand restore needs only the zstd program.
const (
	Format   = archive.Zstd
	Level    = 3
	WALLevel = 6
)

// WorkDir is where base backups are made, under BACKUP_LOCAL_DIR: hidden
// and private (basebackup.Taker).
const WorkDir = ".pitr-work"

// Archive is one server's point-in-time recovery archive, as the daemon
// keeps it.
type Archive struct {
	Config  config.Config
	Server  config.Database // the server whose WAL is archived
	Catalog *catalog.Store
	Tools   dump.Tools
	Clock   clock.Clock
	Log     *slog.Logger
	// Poll is how often the spool is looked at and a held lock tried
	// again (tests shorten it); 0: every second, and every 2 s.
	Poll time.Duration
	// Tell sends a mail and the webhook (the daemon's notification
	// queue); nil: nothing is sent.
	Tell func(context.Context, notify.Event)

	mu        sync.Mutex
	stream    *walstream.Stream
	holder    string // who streams, when another replica does
	afterLoss string // the slot was lost or made again: a base backup is due at once, for this trigger
	sysid     uint64 // the server's, once it was checked
}

// Status is the archive's state as this replica sees it.
type Status struct {
	Streaming bool   // this replica holds the archive's lock and streams
	HeldBy    string // when another replica does: who
	Stream    walstream.State
}

// Status is what the archive is doing now.
func (a *Archive) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := Status{HeldBy: a.holder}
	if a.stream != nil {
		st.Streaming, st.Stream = true, a.stream.State()
	}
	return st
}

// Check runs the server's preflight once (walstream.Preflight: the role,
// wal_level, max_slot_wal_keep_size, the slot), as `serve` does at start:
// an unfit server is a configuration error (walstream.ErrUnfit).
func Check(ctx context.Context, cfg config.Config, server config.Database) (walstream.Server, error) {
	conn, err := dbconn.Connect(ctx, server, "rgz-backup pitr preflight")
	if err != nil {
		return walstream.Server{}, fmt.Errorf("connect to the server for point-in-time recovery: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return walstream.Preflight(ctx, conn, cfg.PITR.Slot)
}

// Run keeps the archive streaming until ctx ends: it takes the archive's
// lock (another replica holding it: this one waits and tries again),
// checks the server, and streams; whatever stops the stream is logged and
// it starts again after a pause that grows.
func (a *Archive) Run(ctx context.Context) {
	a.Clock = clock.Or(a.Clock)
	if a.Log == nil {
		a.Log = slog.Default()
	}
	failures := 0
	for ctx.Err() == nil {
		release, err := lock.Take(ctx, a.Config.Catalog, lock.Me(), lock.ForPITR(a.Server.URL, a.Config.PITR.Slot))
		var held *lock.HeldError
		switch {
		case errors.As(err, &held):
			a.waiting(held.Holder)
			a.sleep(ctx, 2*a.poll()) // one query: a standby takes over within seconds
			continue
		case err != nil:
			failures++
			a.Log.Error("point-in-time recovery: the archive's lock could not be taken", "error", err, "again_in", walstream.Backoff(failures).String())
			a.sleep(ctx, walstream.Backoff(failures))
			continue
		}
		a.waiting("")
		started := a.Clock.Now()
		err = a.streamOnce(ctx)
		if errors.Is(err, walstream.ErrSlotLost) && ctx.Err() == nil {
			err = a.slotLost(ctx, err)
		}
		release()
		if ctx.Err() != nil {
			return
		}
		if a.Clock.Now().Sub(started) > time.Minute {
			failures = 0
		}
		failures++
		a.Log.Error("point-in-time recovery: the WAL stream stopped", "error", err, "again_in", walstream.Backoff(failures).String())
		a.sleep(ctx, walstream.Backoff(failures))
	}
}

// slotLost is what follows the loss of the slot (the server removed WAL
// nobody had read, past max_slot_wal_keep_size): said loudly; the
// archive's WAL has a gap from where the stream stopped, so the windows
// of the base backups before it end there; the slot is made again, the
// spool's unfinished segment set aside (its WAL up to what was flushed is
// in the archive as a partial copy; pg_receivewal would otherwise try to
// go on from it), and a base backup taken as soon as the stream is back:
// the first moment restorable again.
func (a *Archive) slotLost(ctx context.Context, lost error) error {
	a.tell(ctx, notify.Event{Kind: notify.PITRArchiveBroken, PITRCheck: &catalog.ArchiveCheck{CheckedAt: a.Clock.Now(), Status: catalog.TestFailed,
		Problems: []string{"the replication slot " + a.Config.PITR.Slot + " was lost (" + lost.Error() + "): the moments from the last WAL archived to the new base backup, taken now, cannot be restored"}}})
	a.Log.Error("point-in-time recovery: THE REPLICATION SLOT WAS LOST: the archive has a gap; no restore reaches past its last WAL "+
		"until a new base backup is taken, which starts now", "error", lost.Error(), "slot", a.Config.PITR.Slot)
	conn, err := dbconn.Connect(ctx, a.Server, "rgz-backup pitr")
	if err != nil {
		return fmt.Errorf("%w; and the server cannot be reached to make it again: %w", lost, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, a.Config.PITR.Slot); err != nil {
		return fmt.Errorf("%w; and it could not be dropped to be made again: %w", lost, err)
	}
	// The stream that follows makes the slot again (newSlot): the spool's
	// unfinished segment is shipped as far as it was written, and set aside.
	a.mu.Lock()
	a.afterLoss = basebackup.TriggerSlotLost
	a.mu.Unlock()
	return lost
}

// newSlot is a slot made where the archive already has WAL of the
// cluster: someone dropped it, or the server is a promoted standby or a
// restored copy that goes on. The server streams from now, not from where
// the old slot was: the archive may have a gap, and a base backup is
// taken at once (unless the slot's loss already asked for one).
func (a *Archive) newSlot(ctx context.Context, systemID uint64, ship *walship.Shipper) error {
	files, err := a.Catalog.WALFiles(ctx, systemID)
	if err != nil || len(files) == 0 {
		return err
	}
	a.Log.Warn("point-in-time recovery: the replication slot was made again where the archive already had WAL of this cluster: "+
		"a base backup is taken now", "slot", a.Config.PITR.Slot, "system_id", systemID)
	return a.restart(ctx, basebackup.TriggerNewSlot, ship)
}

// restart ships the spool's unfinished segment as far as it was written
// (the old slot's WAL after its last partial copy), sets it aside
// (pg_receivewal would otherwise try to go on from it, where the new slot
// holds nothing), and asks for a base backup at once, for trigger (unless
// the slot's loss already did).
func (a *Archive) restart(ctx context.Context, trigger string, ship *walship.Shipper) error {
	if err := ship.Prepare(); err != nil {
		return err
	}
	entries, _ := os.ReadDir(ship.Spool)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if p := walship.Read(names, ship.Expect.SegSize).Partial; p != nil {
		path := filepath.Join(ship.Spool, p.Name)
		end, err := walship.WrittenEnd(path, p.Segment, ship.Expect.SegSize)
		if err == nil && end > p.Segment.Start(ship.Expect.SegSize) {
			_, err = ship.Ship(ctx, *p, end)
		}
		if err != nil {
			a.Log.Error("point-in-time recovery: the old slot's unfinished segment could not be shipped; it is kept in the spool until a base backup follows",
				"file", p.Name, "error", err)
		}
		aside := filepath.Join(ship.Spool, ".lost-"+p.Name)
		if err := os.Rename(path, aside); err != nil {
			return fmt.Errorf("set %s aside: %w", path, err)
		}
		a.Log.Warn("point-in-time recovery: the old slot's unfinished segment is shipped as far as it was written and set aside", "path", aside)
	}
	a.mu.Lock()
	if a.afterLoss == "" {
		a.afterLoss = trigger
	}
	a.mu.Unlock()
	return nil
}

// removeSetAside removes the unfinished segments set aside after a slot
// was lost or made again (plaintext WAL, copied as partial segments up to
// their last copy): once a base backup follows, nothing restores through
// them any more.
func (a *Archive) removeSetAside() {
	aside, _ := filepath.Glob(filepath.Join(a.Config.LocalDir, SpoolDir, "*-"+a.Config.PITR.Slot, ".lost-*"))
	for _, p := range aside {
		if err := os.Remove(p); err == nil {
			a.Log.Info("point-in-time recovery: removed a segment set aside after the slot was lost, now that a base backup follows", "path", p)
		}
	}
}

// waiting records who holds the lock ("" when this replica does), and
// says so once when it changes.
func (a *Archive) waiting(holder string) {
	a.mu.Lock()
	changed := a.holder != holder
	a.holder = holder
	a.mu.Unlock()
	if changed && holder != "" {
		a.Log.Info("point-in-time recovery: another replica streams this server's WAL; this one stands by", "holder", holder)
	}
}

// streamOnce checks the server and streams until ctx ends or the stream
// cannot go on; meanwhile it takes the base backups that are due.
func (a *Archive) streamOnce(ctx context.Context) error {
	srv, err := Check(ctx, a.Config, a.Server)
	if err != nil {
		return err
	}
	places, err := OpenPlaces(a.Config)
	if err != nil {
		return err
	}
	defer places.Close()
	form, err := a.form()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.sysid = srv.SystemID
	a.mu.Unlock()
	magic, _ := wal.MagicOf(srv.Major) // 0 for a newer server: any
	ship := &walship.Shipper{
		Spool:  filepath.Join(a.Config.LocalDir, SpoolDir, strconv.FormatUint(srv.SystemID, 10)+"-"+a.Config.PITR.Slot),
		Expect: wal.Expect{SystemID: srv.SystemID, Magic: magic, SegSize: srv.SegSize},
		Format: form.Format, Level: WALLevel, Encrypter: form.Encrypter,
		Stores: places.Stores,
		Record: func(ctx context.Context, s walship.Shipped) error {
			return a.Catalog.RecordWALFile(ctx, Row(srv.SystemID, s, form.Format, a.Clock.Now()))
		},
	}
	if srv.SlotCreated {
		if err := a.newSlot(ctx, srv.SystemID, ship); err != nil {
			return err
		}
	}
	stream := &walstream.Stream{Tools: a.Tools, Server: a.Server, Slot: a.Config.PITR.Slot, Ship: ship,
		ShipEvery: a.Config.PITR.ShipEvery, Poll: a.Poll, Clock: a.Clock, Log: a.Log}
	a.mu.Lock()
	a.stream = stream
	a.mu.Unlock()
	defer func() { a.mu.Lock(); a.stream = nil; a.mu.Unlock() }()
	a.Log.Info("point-in-time recovery: streaming the server's WAL", "system_id", srv.SystemID, "slot", a.Config.PITR.Slot,
		"max_slot_wal_keep_size", srv.KeepSize, "places", len(places.Stores))

	streaming, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { a.baseBackups(streaming, a.taker(srv, form, places.Stores)) })
	wg.Go(func() { a.report(streaming, srv.SystemID, stream) })
	wg.Go(func() { a.heartbeats(streaming) })
	err = stream.Run(streaming)
	stop()
	wg.Wait()
	return err
}

// report writes what the stream is doing into the catalog (pitr_streams)
// every ship interval, at most every 10 seconds, until ctx ends: every
// replica's metrics read it there. A write that fails is said once, and
// the stream goes on.
func (a *Archive) report(ctx context.Context, systemID uint64, stream *walstream.Stream) {
	every := min(a.Config.PITR.ShipEvery, 10*time.Second)
	host, _ := os.Hostname()
	failing := false
	for ctx.Err() == nil {
		st := stream.State()
		row := catalog.Stream{SystemID: systemID, Slot: a.Config.PITR.Slot, Server: a.Server.Server(), Hostname: host,
			Receiving: st.Receiving, Restarts: st.Restarts, SlotStatus: st.Slot.Status,
			SafeBytes: st.Slot.SafeBytes, LimitBytes: st.Slot.LimitBytes, SpoolFiles: st.SpoolFiles, UpdatedAt: a.Clock.Now()}
		if st.Slot.Status == "" {
			row.SafeBytes, row.LimitBytes = -1, -1 // not read yet
		}
		if st.ShippedUpTo != 0 {
			row.ShippedLSN = st.ShippedUpTo.String()
		}
		if st.Slot.ServerLSN != 0 {
			row.ServerLSN, row.ReceivedLSN = st.Slot.ServerLSN.String(), st.Slot.Flushed.String()
		}
		err := a.Catalog.RecordStream(ctx, row)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			a.Log.Warn("point-in-time recovery: the stream's state is not written to the catalog (metrics and alerts see it stale)", "error", err)
			failing = true
		case err == nil:
			failing = false
		}
		a.sleep(ctx, every)
	}
}

// baseBackups takes the cluster's base backups as they come due
// (basebackup.Due), looking every 2 polls (one query of the catalog),
// until ctx ends.
//
// Retention (Expire) runs after each good base backup and at least daily.
func (a *Archive) baseBackups(ctx context.Context, t *basebackup.Taker) {
	var expired time.Time
	for ctx.Err() == nil {
		a.mu.Lock()
		afterLoss := a.afterLoss
		a.mu.Unlock()
		rows, err := a.Catalog.BaseBackups(ctx, t.SystemID)
		why := basebackup.Due(rows, a.Config.PITR.BaseSchedule, a.Clock.Now())
		if afterLoss != "" && err == nil && !why.Due && !basebackup.FailedRecently(rows, a.Clock.Now()) {
			why = basebackup.Decision{Due: true, Trigger: afterLoss}
		}
		if err != nil {
			a.Log.Warn("point-in-time recovery: base backups not read from the catalog", "error", err)
		} else if why.Due {
			if _, err := a.takeBaseBackup(ctx, t, why); err == nil {
				expired = time.Time{}
				a.mu.Lock()
				a.afterLoss = ""
				a.mu.Unlock()
				a.removeSetAside()
			}
		}
		if now := a.Clock.Now(); err == nil && now.Sub(expired) >= 24*time.Hour {
			if _, err := a.Expire(ctx, t.SystemID, t.Stores, false, false); err != nil {
				a.Log.Error("point-in-time recovery: retention", "error", err)
			}
			a.checkArchive(ctx, t.SystemID, t.Stores)
			expired = now
		}
		a.sleep(ctx, 2*a.poll())
	}
}

// BaseBackup takes a base backup now, as rgz-backup pitr base-backup
// does: beside the daemon's stream, under the cluster's base-backup lock
// (held: *lock.HeldError).
func (a *Archive) BaseBackup(ctx context.Context) (catalog.BaseBackup, error) {
	a.Clock = clock.Or(a.Clock)
	if a.Log == nil {
		a.Log = slog.Default()
	}
	srv, err := Inspect(ctx, a.Server)
	if err != nil {
		return catalog.BaseBackup{}, err
	}
	places, err := OpenPlaces(a.Config)
	if err != nil {
		return catalog.BaseBackup{}, err
	}
	defer places.Close()
	form, err := a.form()
	if err != nil {
		return catalog.BaseBackup{}, err
	}
	return a.takeBaseBackup(ctx, a.taker(srv, form, places.Stores), basebackup.Decision{Due: true, Trigger: basebackup.TriggerManual})
}

// Expire applies retention to cluster systemID's archive in stores, under
// the cluster's base-backup lock (held: *lock.HeldError).
func (a *Archive) Expire(ctx context.Context, systemID uint64, stores []destination.Store, allowMass, dryRun bool) (Expired, error) {
	release, err := lock.Take(ctx, a.Config.Catalog, lock.Me(), lock.ForBaseBackup(systemID))
	if err != nil {
		return Expired{}, err
	}
	defer release()
	return Expire(ctx, a.Catalog, stores, systemID, clock.Or(a.Clock).Now(), a.Config.PITR.RetentionDays, allowMass, dryRun, a.Log)
}

func (a *Archive) takeBaseBackup(ctx context.Context, t *basebackup.Taker, why basebackup.Decision) (catalog.BaseBackup, error) {
	release, err := lock.Take(ctx, a.Config.Catalog, lock.Me(), lock.ForBaseBackup(t.SystemID))
	if err != nil {
		var held *lock.HeldError
		if errors.As(err, &held) {
			err = &lock.HeldError{Holder: "a base backup of this cluster is being taken by " + held.Holder}
		}
		return catalog.BaseBackup{}, err
	}
	defer release()
	a.Log.Info("point-in-time recovery: taking a base backup", "system_id", t.SystemID, "trigger", why.Trigger)
	row, err := t.Take(ctx, why)
	if err != nil {
		a.Log.Error("point-in-time recovery: the base backup failed", "label", row.Label, "error", err)
		return row, err
	}
	a.Log.Info("point-in-time recovery: base backup taken", "label", row.Label, "start_lsn", row.StartLSN, "end_lsn", row.EndLSN,
		"stored_bytes", row.StoredSize, "places", len(row.Copies))
	return row, nil
}

func (a *Archive) taker(srv walstream.Server, form sealed.Form, stores []destination.Store) *basebackup.Taker {
	return &basebackup.Taker{Tools: a.Tools, Server: a.Server, SystemID: srv.SystemID, SegSize: srv.SegSize,
		WorkDir: filepath.Join(a.Config.LocalDir, WorkDir, strconv.FormatUint(srv.SystemID, 10)),
		Form:    form, Stores: stores, Catalog: a.Catalog, Clock: a.Clock, Log: a.Log}
}

func (a *Archive) form() (sealed.Form, error) {
	enc, err := Encrypter(a.Config)
	// One encoder: serve streams for weeks; a base backup compresses
	// on one core rather than hold twice the memory for a weekly burst.
	return sealed.Form{Format: Format, Level: Level, Encrypter: enc, OneEncoder: true}, err
}

// Inspect connects to the server and says what it is and whether it can
// stream (walstream.Inspect), without making the slot.
func Inspect(ctx context.Context, server config.Database) (walstream.Server, error) {
	conn, err := dbconn.Connect(ctx, server, "rgz-backup pitr")
	if err != nil {
		return walstream.Server{}, fmt.Errorf("connect to the server for point-in-time recovery: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return walstream.Inspect(ctx, conn)
}

func (a *Archive) poll() time.Duration {
	if a.Poll > 0 {
		return a.Poll
	}
	return time.Second
}

// sleep waits until the archive's clock has moved by d, or ctx ends.
func (a *Archive) sleep(ctx context.Context, d time.Duration) { clock.Sleep(ctx, a.Clock, d, a.poll()) }

// OpenPlaces opens every place of the server's archive: the backup
// directory first (its pitr/ folder), then every place its backups are
// copied to.
func OpenPlaces(cfg config.Config) (destination.Opened, error) {
	// The server's own places: a target's destinations, or the
	// environment's (AllDestinations), never another target's.
	opened, err := cfg.OpenDestinations(cfg.AllDestinations())
	if err != nil {
		return destination.Opened{}, err
	}
	local := destination.Spec{Kind: destination.KindFile, URL: "file://" + cfg.LocalDir}
	opened.Specs = append([]destination.Spec{local}, opened.Specs...)
	opened.Stores = append([]destination.Store{destination.Dir{Root: cfg.LocalDir}}, opened.Stores...)
	return opened, nil
}

// Encrypter is the archive's encryption: to the backups' recipients, or
// none.
func Encrypter(cfg config.Config) (*crypt.Encrypter, error) {
	if !cfg.Encryption.On() {
		return nil, nil
	}
	recipients, err := crypt.Recipients(cfg.Encryption.Recipients)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	return crypt.NewEncrypter(recipients)
}

// Row is the catalog's row of a shipped file.
func Row(systemID uint64, s walship.Shipped, format archive.Format, at time.Time) catalog.WALFile {
	// shipped_at is where the window ends (pitrplan: the last file's):
	// the moment the copy's WAL reaches, never the later one it was
	// recorded at, or a test could aim at a moment its WAL does not hold.
	if !s.Holds.IsZero() && s.Holds.Before(at) {
		at = s.Holds
	}
	f := catalog.WALFile{SystemID: systemID, Kind: catalog.WALSegment, Timeline: s.Timeline, SegmentNo: s.Segment.No,
		FileName: s.Name, ObjectKey: s.Key, RawSize: s.RawSize, RawSHA256: s.RawSHA256,
		StoredSize: s.Stored.Size, StoredCRC32: s.Stored.CRC32Hex(), StoredSHA256: s.Stored.SHA256Hex(),
		CompressionFormat: string(format), Encrypted: s.Encrypted, Copies: s.Copies, ShippedAt: at, History: s.HistoryText}
	switch {
	case s.History:
		f.Kind, f.SegmentNo = catalog.WALHistory, 0
	case s.Partial:
		f.Kind = catalog.WALPartial
	}
	if !s.History {
		f.StartLSN, f.EndLSN = s.Start.String(), s.End.String()
	}
	return f
}

// checkArchive runs the daily check of the archive (CheckArchive),
// records it, says a failure in the log, and tells it when the check
// before did not fail, or failed for fewer reasons: each problem once,
// not every day.
func (a *Archive) checkArchive(ctx context.Context, systemID uint64, stores []destination.Store) {
	before, _ := a.Catalog.LastArchiveChecks(ctx)
	c, err := CheckArchive(ctx, a.Catalog, stores, systemID, a.Clock.Now(), nil)
	if err != nil {
		a.Log.Error("point-in-time recovery: the archive's check could not run", "error", err)
		return
	}
	if err := a.Catalog.RecordArchiveCheck(ctx, c); err != nil {
		a.Log.Error("point-in-time recovery: the archive's check", "error", err)
	}
	if c.Status == catalog.TestSuccess {
		a.Log.Info("point-in-time recovery: the archive is continuous and its places hold what was shipped",
			"files_sampled", c.FilesSampled, "places", c.Places, "known_gaps", len(c.Gaps))
		return
	}
	a.Log.Error("point-in-time recovery: THE ARCHIVE'S CHECK FAILED", "problems", c.Problems)
	for _, b := range before {
		if b.SystemID == systemID && b.Status == catalog.TestFailed && !slices.ContainsFunc(c.Problems, func(p string) bool { return !slices.Contains(b.Problems, p) }) {
			return // told when it began: nothing new since
		}
	}
	a.tell(ctx, notify.Event{Kind: notify.PITRArchiveBroken, PITRCheck: &c})
}

func (a *Archive) tell(ctx context.Context, e notify.Event) {
	if a.Tell == nil {
		return
	}
	host, _ := os.Hostname()
	e.Host = host
	if e.PITRCheck != nil && e.PITRCheck.SystemID == 0 {
		e.PITRCheck.SystemID = a.systemID()
	}
	a.Tell(ctx, e)
}

func (a *Archive) systemID() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sysid
}
