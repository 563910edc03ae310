package archive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadOption changes how Check reads a file.
type ReadOption func(*readOptions)

type readOptions struct {
	open func(io.Reader) (io.Reader, error)
}

// OpenedBy decrypts the stored bytes with open before they are
// decompressed (the stored checksums are still those of the file).
func OpenedBy(open func(io.Reader) (io.Reader, error)) ReadOption {
	return func(o *readOptions) { o.open = open }
}

// Check re-reads the file at path in one pass: it checksums the stored
// bytes, decrypts (OpenedBy) and decompresses all of them, checksums the
// result and copies it to sink (pg_restore --list's stdin, say). A sink
// that stops reading early (pg_restore needs only the head of the
// archive) does not stop the check.
func Check(ctx context.Context, path string, format Format, sink io.Writer, opts ...ReadOption) (Sums, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sums{}, err
	}
	defer f.Close()
	return CheckReader(ctx, f, format, sink, opts...)
}

// CheckReader is Check over the bytes of a file as r reads them (a Follow
// reader, say).
//
// When the content does not decrypt or decompress, the stored bytes are
// still read to their end: the returned Sums then carry the stored file's
// size and checksums (and no decompressed ones), so that the caller can
// say "checksum mismatch", the diagnosis an operator acts on, rather than
// only what the decoder stumbled on.
func CheckReader(ctx context.Context, f io.Reader, format Format, sink io.Writer, opts ...ReadOption) (Sums, error) {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	stored := newHashingWriter(io.Discard, true)
	buffered := bufio.NewReaderSize(f, 1<<20)
	readStored := func() (Sums, error) { // the rest of the file, whatever happened
		if _, err := io.Copy(stored, buffered); err != nil {
			return Sums{}, err
		}
		return Sums{Size: stored.n.Load(), CRC32: stored.crc.Sum32(), SHA256: [32]byte(stored.sha.Sum(nil))}, nil
	}
	var compressed io.Reader = io.TeeReader(buffered, stored)
	if o.open != nil {
		plain, err := o.open(compressed)
		if err != nil {
			sums, rerr := readStored()
			return sums, errors.Join(err, rerr)
		}
		compressed = plain
	}
	dec, err := newDecompressor(format, compressed)
	if err != nil {
		sums, rerr := readStored()
		return sums, errors.Join(fmt.Errorf("read %s header: %w", format, err), rerr)
	}
	defer dec.Close()
	if sink == nil {
		sink = io.Discard
	}
	raw := newHashingWriter(&lenientWriter{w: sink}, false)
	_, decErr := io.CopyBuffer(raw, ctxReader{ctx, dec}, make([]byte, 1<<20))
	if decErr != nil && ctx.Err() != nil {
		return Sums{}, ctx.Err()
	}
	// Trailing bytes past the stream's end (or past the damage) still
	// belong to the file.
	sums, err := readStored()
	if err != nil {
		return Sums{}, err
	}
	if decErr != nil {
		return sums, fmt.Errorf("decompress: %w", decErr)
	}
	sums.RawSize, sums.RawCRC32 = raw.n.Load(), raw.crc.Sum32()
	return sums, nil
}

// StoredSums reads the file at path once for its size and checksums, with
// no decryption or decompression: what can be checked without a key.
func StoredSums(ctx context.Context, path string) (Sums, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sums{}, err
	}
	defer f.Close()
	stored := newHashingWriter(io.Discard, true)
	if _, err := io.CopyBuffer(stored, ctxReader{ctx, bufio.NewReaderSize(f, 1<<20)}, make([]byte, 1<<20)); err != nil {
		return Sums{}, err
	}
	return Sums{Size: stored.n.Load(), CRC32: stored.crc.Sum32(), SHA256: [32]byte(stored.sha.Sum(nil))}, nil
}

// Compare names every difference between what was expected and what a
// check found; empty when they agree.
func Compare(want, got Sums) []string {
	diffs := CompareStored(want, got)
	if want.RawSize != got.RawSize {
		diffs = append(diffs, fmt.Sprintf("decompresses to %d bytes, expected %d", got.RawSize, want.RawSize))
	}
	if want.RawCRC32 != got.RawCRC32 {
		diffs = append(diffs, fmt.Sprintf("decompressed checksum CRC32 %s, expected %s", got.RawCRC32Hex(), want.RawCRC32Hex()))
	}
	return diffs
}

// CompareStored is Compare over the stored file only: size, CRC32, SHA-256.
func CompareStored(want, got Sums) []string {
	var diffs []string
	if want.Size != got.Size {
		diffs = append(diffs, fmt.Sprintf("size %d bytes, expected %d", got.Size, want.Size))
	}
	if want.CRC32 != got.CRC32 {
		diffs = append(diffs, fmt.Sprintf("checksum CRC32 %s, expected %s", got.CRC32Hex(), want.CRC32Hex()))
	}
	if want.SHA256 != got.SHA256 {
		diffs = append(diffs, fmt.Sprintf("checksum SHA-256 %s, expected %s", got.SHA256Hex(), want.SHA256Hex()))
	}
	return diffs
}

// FanOut writes every byte to each of ws, each leniently: one that stops
// reading (pg_restore --list needs only the archive's head) swallows the
// rest and does not stop the others.
func FanOut(ws ...io.Writer) io.Writer {
	lenient := make([]io.Writer, len(ws))
	for i, w := range ws {
		lenient[i] = &lenientWriter{w: w}
	}
	return io.MultiWriter(lenient...)
}

// lenientWriter forwards to w until w fails once, then swallows the rest.
type lenientWriter struct {
	w      io.Writer
	failed bool
}

func (l *lenientWriter) Write(p []byte) (int, error) {
	if !l.failed {
		if _, err := l.w.Write(p); err != nil {
			l.failed = true
		}
	}
	return len(p), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
