package backup

import (
	"context"
	"fmt"
	"io"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/toc"
)

// Verify re-reads a backup file once: it recomputes the checksums of the
// file and of its decompressed content, feeds that content to
// `pg_restore --list` to count the table of contents, and, in the same
// pass, to `pg_restore --file=/dev/null`, which reads every data block to
// the end: a short or malformed archive fails here, not at a restore.
func Verify(ctx context.Context, tools dump.Tools, path string, format archive.Format, opts ...archive.ReadOption) (archive.Sums, toc.Counts, error) {
	f, err := lock.OpenForReading(path) // retention will not delete it under us
	if err != nil {
		return archive.Sums{}, toc.Counts{}, err
	}
	defer f.Close()
	return VerifyReader(ctx, tools, f, format, opts...)
}

// VerifyReader is Verify over the bytes of a backup file as r reads them.
func VerifyReader(ctx context.Context, tools dump.Tools, r io.Reader, format archive.Format, opts ...archive.ReadOption) (archive.Sums, toc.Counts, error) {
	// Both programs read straight from kernel pipes we write into; the
	// listing stops early and swallows the rest (archive.FanOut).
	listW, waitList, err := tools.StartListTOC(ctx)
	if err != nil {
		return archive.Sums{}, toc.Counts{}, err
	}
	fullW, waitFull, err := tools.ReadArchive(ctx)
	if err != nil {
		listW.Close()
		waitList()
		return archive.Sums{}, toc.Counts{}, err
	}
	sums, err := archive.CheckReader(ctx, r, format, archive.FanOut(listW, fullW), opts...)
	listW.Close() // the end of the archive (or, after an error, of what there is)
	fullW.Close()
	text, listErr := waitList()
	readErr := waitFull()
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
