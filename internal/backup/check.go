package backup

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// Checked is what CheckFile found.
type Checked struct {
	Problems []string // none: the file is good
	// Shallow: the file is encrypted and there was no identity to read it
	// with; only its stored checksums and its age header were checked.
	Shallow bool
}

// CheckFile re-reads the backup a row describes and lists every way the
// file differs from the row: missing, other checksums or sizes, unreadable
// table of contents, other object counts. (To check a copy elsewhere,
// fetch it first: offsite.Fetch.) An encrypted file's stored checksums
// and age header are checked first, before any decryption; with dec (nil:
// no identity here) it is then decrypted and read to its end.
func CheckFile(ctx context.Context, tools dump.Tools, dir string, row catalog.Execution, dec *crypt.Decrypter) Checked {
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
	return CheckFileAt(ctx, tools, files.Dump, row, dec)
}

// CheckFileAt is CheckFile of the file at path: the backup's, or a copy of
// it fetched from a destination.
func CheckFileAt(ctx context.Context, tools dump.Tools, path string, row catalog.Execution, dec *crypt.Decrypter) Checked {
	var opts []archive.ReadOption
	if row.Encrypted {
		if problems := CheckSealed(ctx, path, row); len(problems) > 0 || dec == nil {
			return Checked{Problems: problems, Shallow: dec == nil}
		}
		opts = append(opts, archive.OpenedBy(dec.Open))
	}
	got, counts, err := Verify(ctx, tools, path, FormatOf(row), opts...)
	if err != nil {
		// A damaged file usually fails to decompress; its checksums say
		// first that the stored bytes are not the ones recorded.
		var problems []string
		if got.Size > 0 {
			problems = archive.CompareStored(ExpectedSums(row), got)
		}
		return Checked{Problems: append(problems, err.Error())}
	}
	problems := archive.Compare(ExpectedSums(row), got)
	if counts != row.ObjectCounts {
		problems = append(problems, fmt.Sprintf("table of contents counts %+v, recorded %+v", counts, row.ObjectCounts))
	}
	return Checked{Problems: problems}
}

// FormatOf is a backup's compression format: as recorded, else as its
// name says.
func FormatOf(row catalog.Execution) archive.Format {
	if row.CompressionFormat != nil {
		return *row.CompressionFormat
	}
	return archive.FormatOf(row.Filename)
}

// CheckSealed checks what an encrypted file shows without a key: its
// stored size and checksums, and an age header with one entry for each
// recipient the row names (plus the validation key).
func CheckSealed(ctx context.Context, path string, row catalog.Execution) []string {
	got, err := archive.StoredSums(ctx, path)
	if err != nil {
		return []string{err.Error()}
	}
	if problems := archive.CompareStored(ExpectedSums(row), got); len(problems) > 0 {
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

// ExpectedSums are the sums a row recorded (zero where it recorded none,
// which then shows as a difference).
func ExpectedSums(row catalog.Execution) archive.Sums {
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
