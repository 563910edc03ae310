package walship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// Shipper copies the spool's files to the archive's places.
type Shipper struct {
	Spool     string // pg_receivewal's --directory
	Expect    wal.Expect
	Format    archive.Format
	Level     int
	Encrypter *crypt.Encrypter // nil: stored unencrypted
	// Stores are every place of the archive; a file leaves the spool only
	// once each of them holds a verified copy.
	Stores []destination.Store
	// Record writes what was shipped (the catalog) before the spool's
	// file is removed; nil records nothing.
	Record func(ctx context.Context, s Shipped) error
}

// Shipped is one file of the archive, as every place holds it.
type Shipped struct {
	File
	Key         string  // its name in every place
	Start, End  wal.LSN // the WAL it holds (a partial segment's End: what was flushed when it was read)
	RawSize     int64   // as pg_receivewal wrote it
	RawSHA256   string
	Stored      archive.Sums // the stored (compressed, maybe encrypted) file's
	Encrypted   bool
	Copies      []string // the places that hold it
	HistoryText string   // a history file's text
	// Holds is the newest moment the copy's WAL is known to reach: the
	// spool file's last write, read before its contents are. A partial
	// copy taken now holds what was written up to then; a finished
	// segment, what was written before the next one began. The moment it
	// was recorded (after compression and copies) may be seconds later.
	Holds time.Time
}

// workDir is where the stored form is made: hidden in the spool (Read
// skips it), emptied of what a killed shipper left at each start.
func (s *Shipper) workDir() string { return filepath.Join(s.Spool, ".ship") }

// Prepare empties the work directory of what an interrupted shipper left
// (everything in it is a stored form it can make again) and makes it.
func (s *Shipper) Prepare() error {
	if err := os.RemoveAll(s.workDir()); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.MkdirAll(s.workDir(), 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Ext is the stored files' extension: the compression's (".zst"), then
// ".age" when they are encrypted.
func (s *Shipper) Ext() string { return s.form().Ext() }

// ErrForeign is Ship's error for a spool file that is not what its name
// says (another cluster's, renamed, corrupt): it is never shipped nor
// removed, and the archive is not continuous past it until someone looks.
var ErrForeign = errors.New("not the WAL its name says")

// ErrNoWALYet is Ship's error for a partial segment that end says holds no
// WAL yet (pg_receivewal makes the file before it writes into it).
var ErrNoWALYet = errors.New("the partial segment holds no WAL yet")

// Ship copies f to every place and verifies each copy; then, for a
// finished file, records it and removes it from the spool, and removes the
// partial copy the finished segment replaces. end is how far a partial
// segment holds WAL (ignored for the others).
func (s *Shipper) Ship(ctx context.Context, f File, end wal.LSN) (Shipped, error) {
	if f.Partial && end <= f.Segment.Start(s.Expect.SegSize) {
		return Shipped{}, fmt.Errorf("%s: %w", f.Name, ErrNoWALYet)
	}
	path := filepath.Join(s.Spool, f.Name)
	src, err := os.Open(path)
	if err != nil {
		return Shipped{}, fmt.Errorf("spool: %w", err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return Shipped{}, fmt.Errorf("spool: %w", err)
	}
	out := Shipped{File: f, Key: Key(s.Expect.SystemID, f, s.Ext()), Encrypted: s.Encrypter != nil, Holds: info.ModTime()}
	if !f.History {
		head := make([]byte, wal.HeaderSize)
		if _, err := io.ReadFull(src, head); err != nil {
			return Shipped{}, fmt.Errorf("%s: %w: %v", f.Name, ErrForeign, err)
		}
		if _, err := wal.Check(head, f.Segment, s.Expect); err != nil {
			return Shipped{}, fmt.Errorf("%w: %v", ErrForeign, err)
		}
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return Shipped{}, err
		}
		out.Start, out.End = f.Segment.Start(s.Expect.SegSize), f.Segment.End(s.Expect.SegSize)
		if f.Partial {
			out.End = min(end, out.End)
		}
	}
	if f.History {
		text, err := io.ReadAll(io.LimitReader(src, 1<<20))
		if err != nil {
			return Shipped{}, fmt.Errorf("spool: %w", err)
		}
		if _, err := wal.ParseHistory(f.Timeline, string(text)); err != nil {
			return Shipped{}, fmt.Errorf("%w: %v", ErrForeign, err)
		}
		out.HistoryText = string(text)
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return Shipped{}, err
		}
	}
	stored, err := s.store(src, &out)
	if err != nil {
		return Shipped{}, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer os.Remove(stored)
	if err := s.copyEverywhere(ctx, stored, &out); err != nil {
		return Shipped{}, err
	}
	if s.Record != nil {
		if err := s.Record(ctx, out); err != nil {
			return Shipped{}, fmt.Errorf("record %s: %w", f.Name, err)
		}
	}
	if f.Partial {
		return out, nil
	}
	if err := os.Remove(path); err != nil {
		return Shipped{}, fmt.Errorf("spool: %w", err)
	}
	if !f.History { // the finished segment replaces its partial copy
		partial := File{Name: f.Name + wal.PartialSuffix, Segment: f.Segment, Partial: true, Timeline: f.Timeline}
		for _, st := range s.Stores {
			if err := st.Remove(ctx, Key(s.Expect.SystemID, partial, s.Ext())); err != nil {
				return out, fmt.Errorf("remove the partial copy of %s from %s: %w", f.Name, st, err)
			}
		}
	}
	return out, nil
}

// store writes the stored form of src in the work directory, read back
// whole (sealed.Form.Write).
func (s *Shipper) store(src io.Reader, out *Shipped) (string, error) {
	f, err := s.form().Write(s.workDir(), sealed.Name(out.Key), src)
	if err != nil {
		return "", err
	}
	out.Stored, out.RawSize, out.RawSHA256 = f.Sums, f.Sums.RawSize, f.RawSHA256
	return f.Path, nil
}

func (s *Shipper) form() sealed.Form {
	return sealed.Form{Format: s.Format, Level: s.Level, Encrypter: s.Encrypter, OneEncoder: true}
}

// copyEverywhere puts the stored file in every place, each copy verified
// by its Put.
func (s *Shipper) copyEverywhere(ctx context.Context, stored string, out *Shipped) error {
	copies, err := sealed.CopyEverywhere(ctx, s.Stores, sealed.File{Path: stored, Sums: out.Stored}, out.Key, out.Name)
	out.Copies = copies
	return err
}
