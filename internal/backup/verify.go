package backup

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/toc"
)

var errTOCRead = errors.New("pg_restore has read the table of contents")

// Verify re-reads a backup file once: it recomputes the checksums of the
// file and of its decompressed content, and feeds that content to
// `pg_restore --list` to prove the archive's table of contents reads.
func Verify(ctx context.Context, tools dump.Tools, path, format string) (archive.Sums, toc.Counts, error) {
	f, err := lock.OpenForReading(path) // retention will not delete it under us
	if err != nil {
		return archive.Sums{}, toc.Counts{}, err
	}
	defer f.Close()
	return VerifyReader(ctx, tools, f, format)
}

// VerifyReader is Verify over the bytes of a backup file as r reads them.
func VerifyReader(ctx context.Context, tools dump.Tools, r io.Reader, format string) (archive.Sums, toc.Counts, error) {
	pr, pw := io.Pipe()
	type listed struct {
		text string
		err  error
	}
	done := make(chan listed, 1)
	go func() {
		text, err := tools.ListTOC(ctx, pr)
		pr.CloseWithError(errTOCRead) // pg_restore stops early; the check reads on
		done <- listed{text, err}
	}()
	sums, err := archive.CheckReader(ctx, r, format, pw)
	pw.CloseWithError(err) // nil: pg_restore sees the end of the archive
	list := <-done
	if err != nil {
		return sums, toc.Counts{}, err
	}
	if list.err != nil {
		return sums, toc.Counts{}, fmt.Errorf("table of contents unreadable: %w", list.err)
	}
	entries, err := toc.Parse(list.text)
	if err != nil {
		return sums, toc.Counts{}, fmt.Errorf("table of contents unreadable: %w", err)
	}
	return sums, toc.Count(entries), nil
}
