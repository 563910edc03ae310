package walstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/wal"
	"github.com/mosaique/rgz-backup/internal/walship"
)

// Stream is one server's WAL on its way to the archive.
type Stream struct {
	Tools     dump.Tools
	Server    config.Database
	Slot      string
	Ship      *walship.Shipper // its Spool is pg_receivewal's directory
	ShipEvery time.Duration    // how often the segment being written is copied
	Poll      time.Duration    // how often the spool is looked at; 0: every second
	Clock     clock.Clock
	Log       *slog.Logger

	mu    sync.Mutex
	state State
}

// State is what the stream is doing, for status and metrics.
type State struct {
	Receiving    bool      // pg_receivewal is running
	Restarts     int       // times pg_receivewal was started again
	LastError    string    // why it last stopped, or why shipping last failed
	ShippedUpTo  wal.LSN   // the end of the newest file every place holds
	LastShipped  time.Time // when
	SpoolFiles   int       // files waiting in the spool
	PartialUntil wal.LSN   // how far the newest partial copy goes
	Slot         Slot      // as last read
}

// State is the stream's state now.
func (s *Stream) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Stream) update(f func(*State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.state)
}

// Backoff is how long the receiver waits before starting again after
// failures stops in a row: a second, doubling, at most a minute.
func Backoff(failures int) time.Duration {
	d := time.Second
	for i := 1; i < failures && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// Run streams and ships until ctx ends. What is in the spool then stays
// there, and the next Run ships it first.
func (s *Stream) Run(ctx context.Context) error {
	s.Clock = clock.Or(s.Clock)
	if s.Log == nil {
		s.Log = slog.Default()
	}
	poll := s.poll()
	// The spool holds the server's WAL unencrypted: its owner's alone,
	// whatever made the directory before.
	if err := os.MkdirAll(s.Ship.Spool, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Chmod(s.Ship.Spool, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.Ship.Prepare(); err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.receive(ctx) }()
	defer wg.Wait()
	var lastPartial time.Time
	for {
		s.shipReady(ctx)
		if now := s.Clock.Now(); now.Sub(lastPartial) >= s.ShipEvery {
			slot, err := s.slot(ctx)
			switch {
			case errors.Is(err, ErrSlotLost):
				stop()
				return err
			case err != nil:
				s.failed(err)
			case s.State().Receiving:
				// The slot's position is this host's only while its own
				// receiver reads it (a replica that lost the archive's
				// lock with its catalog session may not know yet).
				s.shipPartial(ctx, slot.Flushed)
			}
			lastPartial = now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// receive runs pg_receivewal again and again: it stops when the connection
// is lost or the server restarts; each stop is logged and counted.
func (s *Stream) receive(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		started := s.Clock.Now()
		if err := RepairSpool(s.Ship.Spool, s.Ship.Expect.SegSize, s.Log); err != nil {
			s.failed(err)
		}
		s.update(func(st *State) { st.Receiving = true })
		err := s.Tools.ReceiveWAL(ctx, s.Server, s.Slot, s.Ship.Spool)
		s.update(func(st *State) { st.Receiving = false })
		if ctx.Err() != nil {
			return
		}
		if s.Clock.Now().Sub(started) > time.Minute {
			failures = 0 // it ran a while: this is a new trouble
		}
		failures++
		wait := Backoff(failures)
		msg := "pg_receivewal stopped"
		if err != nil {
			msg = err.Error()
		}
		s.Log.Warn("WAL stream: pg_receivewal stopped; starting it again", "error", msg, "in", wait.String())
		s.update(func(st *State) { st.Restarts++; st.LastError = msg })
		s.sleep(ctx, wait)
	}
}

// sleep waits until the stream's clock has moved by d (a test moves it),
// or until ctx ends.
func (s *Stream) sleep(ctx context.Context, d time.Duration) { clock.Sleep(ctx, s.Clock, d, s.poll()) }

func (s *Stream) poll() time.Duration {
	if s.Poll <= 0 {
		return time.Second
	}
	return s.Poll
}

// spool lists what the spool holds now.
func (s *Stream) spool() (walship.Spool, error) {
	entries, err := os.ReadDir(s.Ship.Spool)
	if err != nil {
		return walship.Spool{}, fmt.Errorf("spool: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return walship.Read(names, s.Ship.Expect.SegSize), nil
}

// shipReady ships every finished file, in order; a file that fails stays
// in the spool for the next pass (a place that is down makes the spool
// grow, and loses nothing).
func (s *Stream) shipReady(ctx context.Context) {
	sp, err := s.spool()
	if err != nil {
		s.failed(err)
		return
	}
	s.update(func(st *State) { st.SpoolFiles = len(sp.Ready) })
	for _, f := range sp.Ready {
		shipped, err := s.Ship.Ship(ctx, f, 0)
		if err != nil {
			if ctx.Err() == nil {
				s.failed(err)
			}
			return
		}
		s.update(func(st *State) {
			st.SpoolFiles--
			if shipped.End > st.ShippedUpTo {
				st.ShippedUpTo = shipped.End
			}
			st.LastShipped = s.Clock.Now()
		})
	}
}

// shipPartial copies the segment being written, up to what the slot says
// this host has flushed, when that moved since the last copy.
func (s *Stream) shipPartial(ctx context.Context, flushed wal.LSN) {
	sp, err := s.spool()
	if err != nil || sp.Partial == nil {
		return
	}
	if flushed <= s.State().PartialUntil || flushed <= sp.Partial.Segment.Start(s.Ship.Expect.SegSize) {
		return
	}
	shipped, err := s.Ship.Ship(ctx, *sp.Partial, flushed)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, walship.ErrNoWALYet) {
			s.failed(err)
		}
		return
	}
	s.update(func(st *State) { st.PartialUntil = shipped.End; st.LastShipped = s.Clock.Now() })
}

// Slot is what the server says of the slot.
type Slot struct {
	Flushed    wal.LSN // restart_lsn: how far this host holds the WAL (read before the partial file is, so the copy holds at least that)
	Status     string  // wal_status: reserved, extended, unreserved (about to be lost), lost
	SafeBytes  int64   // safe_wal_size: WAL the server may write before the slot is lost
	LimitBytes int64   // max_slot_wal_keep_size
	ServerLSN  wal.LSN // how far the server has written its WAL (received, on a standby)
}

// Endangered says whether the slot is close to being lost: the server
// says so (unreserved), or less than a quarter of its limit is left.
func (sl Slot) Endangered() bool {
	return sl.Status == "unreserved" || sl.LimitBytes > 0 && sl.SafeBytes >= 0 && sl.SafeBytes < sl.LimitBytes/4
}

// slot reads the slot, says once in the log when it comes close to being
// lost (and when it is safe again), and is ErrSlotLost once it is.
func (s *Stream) slot(ctx context.Context) (Slot, error) {
	conn, err := dbconn.Connect(ctx, s.Server, "rgz-backup wal stream")
	if err != nil {
		return Slot{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var lsn string
	var sl Slot
	var server string
	err = conn.QueryRow(ctx, `SELECT coalesce(restart_lsn::text, '0/0'), coalesce(wal_status, ''), coalesce(safe_wal_size, -1),
			coalesce(pg_size_bytes(nullif(current_setting('max_slot_wal_keep_size'), '-1')), -1),
			coalesce((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END)::text, '0/0')
		FROM pg_replication_slots WHERE slot_name = $1`, s.Slot).Scan(&lsn, &sl.Status, &sl.SafeBytes, &sl.LimitBytes, &server)
	if errors.Is(err, pgx.ErrNoRows) {
		return Slot{}, fmt.Errorf("%w: %s was dropped", ErrSlotLost, s.Slot)
	}
	if err != nil {
		return Slot{}, fmt.Errorf("read the slot %s: %w", s.Slot, err)
	}
	if sl.Flushed, err = wal.ParseLSN(lsn); err != nil {
		return Slot{}, err
	}
	if sl.ServerLSN, err = wal.ParseLSN(server); err != nil {
		return Slot{}, err
	}
	if sl.Status == "lost" {
		return sl, fmt.Errorf("%w: %s (the server removed WAL it held back past max_slot_wal_keep_size)", ErrSlotLost, s.Slot)
	}
	before := s.State().Slot
	s.update(func(st *State) { st.Slot = sl })
	switch {
	case sl.Endangered() && !before.Endangered():
		s.Log.Error("WAL stream: the replication slot is close to being lost: rgz-backup is not reading the WAL as fast as the server writes it",
			"slot", s.Slot, "wal_status", sl.Status, "safe_bytes", sl.SafeBytes, "max_slot_wal_keep_size_bytes", sl.LimitBytes)
	case !sl.Endangered() && before.Endangered():
		s.Log.Info("WAL stream: the replication slot is safe again", "slot", s.Slot, "safe_bytes", sl.SafeBytes)
	}
	return sl, nil
}

func (s *Stream) failed(err error) {
	s.Log.Error("WAL stream: shipping failed; the spool keeps the file", "error", err.Error())
	s.update(func(st *State) { st.LastError = err.Error() })
}

// RepairSpool makes the spool one pg_receivewal starts in again. A
// pg_receivewal killed while it created a segment file leaves a .partial
// file shorter than a segment (it fills a new file with zeros before
// writing WAL into it), and refuses to start beside it. Such a file holds
// no WAL yet: all zeros, it is removed (the slot still holds its WAL on the
// server). One that holds anything else is not ours to judge: it is moved
// aside under a hidden name, kept, and reported.
func RepairSpool(dir string, segSize int64, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		if _, partial, err := wal.ParseSegmentName(e.Name(), segSize); err != nil || !partial {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() == 0 || info.Size() == segSize {
			continue
		}
		path := filepath.Join(dir, e.Name())
		zeros, err := allZeros(path)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if zeros {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			log.Info("WAL stream: removed a segment file pg_receivewal had not begun to fill", "file", e.Name(), "bytes", info.Size())
			continue
		}
		aside := filepath.Join(dir, ".damaged-"+e.Name())
		if err := os.Rename(path, aside); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		log.Error("WAL stream: a partial segment of an unexpected size holds data; moved aside, the slot streams it again",
			"file", e.Name(), "bytes", info.Size(), "kept_as", aside)
	}
	return nil
}

func allZeros(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}
