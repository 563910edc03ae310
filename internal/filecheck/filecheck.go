// Package filecheck checks a backup file against what its row recorded:
// the stored size and checksums, the decompression (and decryption) to
// exactly the bytes pg_dump wrote, the table of contents, and the archive
// read to its end. It is the one check that a backup's validation, verify,
// restore and the restore test share, so that they cannot disagree.
package filecheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/pgarchive"
	"github.com/mosaique/rgz-backup/internal/toc"
)

// Checked is what Backup or At found.
type Checked struct {
	Problems []string // none: the file is good
	// Shallow: the file is encrypted and there was no identity to read it
	// with; only its stored checksums and its age header were checked.
	Shallow bool
}

// Backup re-reads the backup a row describes and lists every way the
// file differs from the row: missing, other checksums or sizes, unreadable
// table of contents, other object counts. (To check a copy elsewhere,
// fetch it first: offsite.Fetch.) An encrypted file's stored checksums
// and age header are checked first, before any decryption; with dec (nil:
// no identity here) it is then decrypted and read to its end.
func Backup(ctx context.Context, tools dump.Tools, dir string, row catalog.Execution, dec *crypt.Decrypter) Checked {
	if row.Status == catalog.StatusFailed {
		return Checked{Problems: []string{"this attempt failed; it has no file: " + strOr(row.ErrorMessage, "")}}
	}
	if row.DeletedAt != nil {
		return Checked{Problems: []string{"deleted by retention on " + row.DeletedAt.UTC().Format(time.DateTime) + " UTC"}}
	}
	files, err := layout.Of(row, dir)
	if err != nil {
		return Checked{Problems: []string{err.Error()}}
	}
	if _, err := os.Stat(files.Dump); err != nil {
		return Checked{Problems: []string{fmt.Sprintf("file missing: %v", err)}}
	}
	return At(ctx, tools, files.Dump, row, dec)
}

// At is Backup of the file at path: the backup's, or a copy of
// it fetched from a destination.
func At(ctx context.Context, tools dump.Tools, path string, row catalog.Execution, dec *crypt.Decrypter) Checked {
	var opts []archive.ReadOption
	if row.Encrypted {
		if problems := Sealed(ctx, path, row); len(problems) > 0 || dec == nil {
			return Checked{Problems: problems, Shallow: dec == nil}
		}
		opts = append(opts, archive.OpenedBy(dec.Open))
	}
	got, counts, err := File(ctx, tools, path, Format(row), opts...)
	if err != nil {
		// A damaged file usually fails to decompress; its checksums say
		// first that the stored bytes are not the ones recorded.
		var problems []string
		if got.Size > 0 {
			problems = archive.CompareStored(Expected(row), got)
		}
		return Checked{Problems: append(problems, err.Error())}
	}
	problems := archive.Compare(Expected(row), got)
	if counts != row.ObjectCounts {
		problems = append(problems, fmt.Sprintf("table of contents counts %+v, recorded %+v", counts, row.ObjectCounts))
	}
	return Checked{Problems: problems}
}

// Format is a backup's compression format: as recorded, else as its
// name says.
func Format(row catalog.Execution) archive.Format {
	if row.CompressionFormat != nil {
		return *row.CompressionFormat
	}
	return archive.FormatOf(row.Filename)
}

// Sealed checks what an encrypted file shows without a key: its
// stored size and checksums, and an age header with one entry for each
// recipient the row names (plus the validation key).
func Sealed(ctx context.Context, path string, row catalog.Execution) []string {
	got, err := archive.StoredSums(ctx, path)
	if err != nil {
		return []string{err.Error()}
	}
	if problems := archive.CompareStored(Expected(row), got); len(problems) > 0 {
		return problems
	}
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	stanzas, err := crypt.Header(f)
	if err != nil {
		return []string{err.Error()}
	}
	want, err := crypt.Expected(row.EncryptionRecipients)
	if err != nil {
		return []string{"the recorded recipients do not parse: " + err.Error()}
	}
	if p := crypt.HeaderProblem(stanzas, want); p != "" {
		return []string{p}
	}
	return nil
}

// Expected are the sums a row recorded (zero where it recorded none,
// which then shows as a difference).
func Expected(row catalog.Execution) archive.Sums {
	var s archive.Sums
	if row.FileSizeBytes != nil {
		s.Size = *row.FileSizeBytes
	}
	if row.UncompressedSizeBytes != nil {
		s.RawSize = *row.UncompressedSizeBytes
	}
	fmt.Sscanf(strOr(row.ChecksumCRC32, ""), "%08x", &s.CRC32)
	fmt.Sscanf(strOr(row.UncompressedChecksumCRC32, ""), "%08x", &s.RawCRC32)
	var sha []byte
	fmt.Sscanf(strOr(row.ChecksumSHA256, ""), "%x", &sha)
	copy(s.SHA256[:], sha)
	return s
}

func strOr(s *string, fallback string) string {
	if s == nil {
		return fallback
	}
	return *s
}

// File re-reads a backup file once: it recomputes the checksums of the
// file and of its decompressed content, feeds that content to
// `pg_restore --list` to count the table of contents, and, in the same
// pass, walks the archive to its end (every data block's framing, as
// pg_restore reads it: pgarchive): a short or malformed archive fails
// here, not at a restore.
func File(ctx context.Context, tools dump.Tools, path string, format archive.Format, opts ...archive.ReadOption) (archive.Sums, toc.Counts, error) {
	f, err := lock.OpenForReading(path) // retention will not delete it under us
	if err != nil {
		return archive.Sums{}, toc.Counts{}, err
	}
	defer f.Close()
	return Stream(ctx, tools, f, format, opts...)
}

// Stream is File over the bytes of a backup file as r reads them.
func Stream(ctx context.Context, tools dump.Tools, r io.Reader, format archive.Format, opts ...archive.ReadOption) (archive.Sums, toc.Counts, error) {
	// Both programs read straight from kernel pipes we write into; the
	// listing stops early and swallows the rest (archive.FanOut).
	listW, waitList, err := tools.StartListTOC(ctx)
	if err != nil {
		return archive.Sums{}, toc.Counts{}, err
	}
	full := &toTheEnd{ctx: ctx, tools: tools}
	sums, err := archive.CheckReader(ctx, r, format, archive.FanOut(listW, full), opts...)
	listW.Close() // the end of the archive (or, after an error, of what there is)
	text, listErr := waitList()
	readErr := full.Close()
	if err != nil {
		return sums, toc.Counts{}, err
	}
	if listErr != nil {
		return sums, toc.Counts{}, fmt.Errorf("table of contents unreadable: %w", listErr)
	}
	if readErr != nil {
		return sums, toc.Counts{}, fmt.Errorf("archive unreadable to its end (short or damaged): %w", readErr)
	}
	entries, err := toc.Parse(text)
	if err != nil {
		return sums, toc.Counts{}, fmt.Errorf("table of contents unreadable: %w", err)
	}
	return sums, toc.Count(entries), nil
}

// toTheEnd reads the archive written into it to its end: pgarchive's
// walk, in this process, for the archive versions it knows, and for a
// newer one (a pg_dump newer than this program) `pg_restore
// --file=/dev/null`, which reads every block as a restore would. The
// choice waits for the archive's first bytes.
type toTheEnd struct {
	ctx   context.Context
	tools dump.Tools
	head  []byte
	w     io.WriteCloser
	wait  func() error
	err   error // pg_restore could not start
}

func (t *toTheEnd) Write(p []byte) (int, error) {
	n := len(p)
	if t.w == nil && t.err == nil {
		t.head = append(t.head, p...)
		if len(t.head) < pgarchive.HeadSize {
			return n, nil
		}
		t.start()
		p, t.head = t.head, nil
	}
	if t.err != nil {
		return 0, t.err
	}
	if _, err := t.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

func (t *toTheEnd) start() {
	if _, err := pgarchive.Known(t.head); errors.Is(err, pgarchive.ErrUnknownVersion) {
		t.w, t.wait, t.err = t.tools.ReadArchive(t.ctx)
		return
	}
	w, wait := pgarchive.Start()
	t.w, t.wait = w, func() error { _, err := wait(); return err }
}

// Close ends the archive and says whether it was read to its end.
func (t *toTheEnd) Close() error {
	if t.w == nil && t.err == nil { // fewer bytes than a header
		t.start()
		if t.err == nil {
			_, _ = t.w.Write(t.head)
		}
	}
	if t.err != nil {
		return t.err
	}
	t.w.Close()
	return t.wait()
}
