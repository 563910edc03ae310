package archive

import (
	"fmt"
	"io"
	"runtime"

	"github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Extension is the file name suffix of a dump in format.
func Extension(format string) string {
	switch format {
	case "gzip":
		return ".dump.gz"
	case "zstd":
		return ".dump.zst"
	case "bzip2":
		return ".dump.bz2"
	default:
		return ".dump"
	}
}

// FormatOf guesses the format from a file name, for files the catalog does
// not describe.
func FormatOf(name string) string {
	for _, f := range []string{"gzip", "zstd", "bzip2"} {
		if len(name) > len(Extension(f)) && name[len(name)-len(Extension(f)):] == Extension(f) {
			return f
		}
	}
	return "none"
}

// newCompressor wraps w. Level is 1-9 for every format (zstd's 1-9 map onto
// the encoder's four speeds); it is ignored for "none".
func newCompressor(format string, level int, w io.Writer) (io.WriteCloser, error) {
	switch format {
	case "gzip":
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, err
		}
		// 1 MiB blocks, one in flight per core: parallel, yet bounded memory.
		if err := zw.SetConcurrency(1<<20, runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
		return zw, nil
	case "zstd":
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	case "bzip2":
		return bzip2.NewWriter(w, &bzip2.WriterConfig{Level: level})
	case "none":
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression format %q", format)
}

// newDecompressor reads format from r.
func newDecompressor(format string, r io.Reader) (io.ReadCloser, error) {
	switch format {
	case "gzip":
		return pgzip.NewReader(r)
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case "bzip2":
		return bzip2.NewReader(r, nil)
	case "none":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown compression format %q", format)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
