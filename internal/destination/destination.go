// Package destination is where copies of backup files go: one small
// interface, Store, for a place that holds them (a directory, an SFTP
// server, an Azure Blob container, an S3 bucket: each kind registered once,
// in kind.go's registry, by the file that implements it), and one
// conformance suite
// (destinationtest) that every implementation passes against the real
// thing. The model is restic's backend interface and its single test
// suite, and litestream's ReplicaClient.
//
// Names are relative, slash-separated paths ("2026/02/20260205_030015.dump.gz",
// see Name); each Store maps them onto its own place (a path under its
// directory, a key under its prefix).
package destination

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"time"
)

// ErrNotFound is what Open, Stat and Remove's callers see for a name the
// Store does not hold complete.
var ErrNotFound = errors.New("not found")

// Store is a place that holds backup files.
type Store interface {
	// String names the destination as configured, with no secret in it.
	String() string
	// Put copies src to name and verifies what landed against want (size
	// and CRC32, checked by the store or read back) before it returns nil.
	// A Put that fails for any reason (a mismatch, a source that is not
	// what want says, a cancelled ctx, a lost connection) leaves nothing
	// under name that Stat, List or Open would take for complete.
	// o.RetainUntil makes the copy immutable until then where the place
	// supports it (Retains says whether it does).
	Put(ctx context.Context, name string, src Source, o PutOptions) error
	// Open reads a complete object; ErrNotFound when there is none.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Stat describes a complete object; ErrNotFound when there is none.
	Stat(ctx context.Context, name string) (Object, error)
	// List returns every complete object, in no particular order.
	List(ctx context.Context) ([]Object, error)
	// Remove deletes name, every version of it where the place keeps
	// versions. A name that is not there is not an error; an immutable
	// copy whose retention has not ended is.
	Remove(ctx context.Context, name string) error
	// Retains says whether PutOptions.RetainUntil makes copies immutable
	// here (S3 Object Lock); where it does not, the option is ignored and
	// the docs say so.
	Retains() bool
	// Close ends the store's connections; it is not used afterwards.
	Close() error
}

// StaleAfter is how old what an interrupted Put left (a temporary file,
// an unfinished upload) must be for the next Put of its name to remove it:
// no live copy goes that long without writing.
const StaleAfter = time.Hour

// tempPrefix starts the name of the temporary file a Put of base writes
// before it renames it into place (Dir, SFTP): never a backup's name
// (layout), never listed.
func tempPrefix(base string) string { return ".tmp-" + base + "-" }

// Object is a complete file in a Store.
type Object struct {
	Name string
	Size int64
}

// PutOptions say what a copy must be and how long it must stay.
type PutOptions struct {
	Want        Want
	RetainUntil time.Time // zero: no retention
}

// Want is what a copy must hold: the recorded size and CRC32 (IEEE) of the
// backup file.
type Want struct {
	Size  int64
	CRC32 uint32
}

// Source is the local file a Put copies: read at offsets (several parts at
// once, or again after a retry), of a known size.
type Source interface {
	io.ReaderAt
	Size() int64
}

// File is a Source over an open file.
func File(f *os.File) (Source, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(f, 0, st.Size()), nil
}

// Name is where a backup's file goes in every destination: under the
// year and month of its backup date, as the S3 archive has always kept it;
// with several databases, below their folder, TARGET/DATABASE
// (layout.Folder; empty for today's one database).
//
// The parts are joined, not cleaned: a folder or file that would step out
// ("..") stays visible to CheckName, which every Store applies.
func Name(folder string, backupDate time.Time, file string) string {
	name := backupDate.UTC().Format("2006/01") + "/" + file
	if folder != "" {
		name = folder + "/" + name
	}
	return name
}

// ErrBadName is a name that no Store maps to a place: it would leave the
// store's root, or it is not a backup file's.
var ErrBadName = errors.New("not a backup file's name in a destination")

// CheckName is the one check every Store makes before a name becomes a
// path or a key below its root (a directory, a bucket's prefix, a
// container's): a relative, slash-separated path of plain segments, none
// empty, ".", ".." or hidden (hidden names are temporary files), with no
// backslash (a separator to some servers), NUL or control byte, and short
// enough for any store. Names made by Name from layout.Segment folders
// always pass; a name read from anywhere else (a manifest, a catalog row,
// a listing) is held to the same rule.
func CheckName(name string) error {
	if name == "" || len(name) > 900 || strings.HasPrefix(name, "/") {
		return fmt.Errorf("%.80q: %w", name, ErrBadName)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || strings.HasPrefix(seg, ".") {
			return fmt.Errorf("%.80q: %w", name, ErrBadName)
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; c < 0x20 || c == 0x7f || c == '\\' {
				return fmt.Errorf("%.80q: %w", name, ErrBadName)
			}
		}
	}
	return nil
}

// CheckSource reads src whole and compares it with want: a local file
// that is not what the catalog recorded must never become a copy.
func CheckSource(ctx context.Context, src Source, want Want) error {
	if src.Size() != want.Size {
		return fmt.Errorf("the file has %d bytes, the backup recorded %d", src.Size(), want.Size)
	}
	got, err := CRC32(ctx, io.NewSectionReader(src, 0, src.Size()))
	if err != nil {
		return err
	}
	if got != want.CRC32 {
		return fmt.Errorf("the file's CRC32 is %08x, the backup recorded %08x", got, want.CRC32)
	}
	return nil
}

// newFile is a file a Store is writing: a local one or one on a server.
type newFile interface {
	io.ReaderFrom
	Sync() error
	Close() error
}

// fill copies src into f, syncs it to stable storage and closes it.
func fill(ctx context.Context, f newFile, src Source) error {
	_, err := f.ReadFrom(ctxReader{ctx, io.NewSectionReader(src, 0, src.Size())})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadBack reads a copy back to its end and compares it with want.
func ReadBack(ctx context.Context, r io.Reader, want Want) error {
	h := crc32.NewIEEE()
	n, err := io.CopyBuffer(h, ctxReader{ctx, r}, make([]byte, 1<<20))
	if err != nil {
		return err
	}
	if n != want.Size || h.Sum32() != want.CRC32 {
		return fmt.Errorf("read back %d bytes with CRC32 %08x, want %d bytes with %08x", n, h.Sum32(), want.Size, want.CRC32)
	}
	return nil
}

// CRC32 reads r to its end, 1 MiB at a time, checking ctx between reads.
func CRC32(ctx context.Context, r io.Reader) (uint32, error) {
	h := crc32.NewIEEE()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return h.Sum32(), nil
		}
		if err != nil {
			return 0, err
		}
	}
}
