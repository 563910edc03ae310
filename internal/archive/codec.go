package archive

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Format is a compression format: the values of BACKUP_COMPRESSION_FORMAT.
type Format string

// The compression formats.
const (
	Gzip  Format = "gzip"
	Zstd  Format = "zstd"
	Bzip2 Format = "bzip2"
	None  Format = "none"
)

// Formats lists the compression formats, in the order the docs give them.
var Formats = []Format{Gzip, Zstd, Bzip2, None}

// DefaultLevel is the compression level used when BACKUP_COMPRESSION_LEVEL
// is unset. gzip and bzip2 follow the specification (9); zstd's was chosen
// by measurement (docs/BENCHMARKS.md): level 1 was both faster and smaller
// than level 3 on the MOSAÏQUE-like database.
var DefaultLevel = map[Format]int{Gzip: 9, Zstd: 1, Bzip2: 9, None: 0}

// Extension is the file name suffix of a dump in format.
func Extension(format Format) string {
	switch format {
	case Gzip:
		return ".dump.gz"
	case Zstd:
		return ".dump.zst"
	case Bzip2:
		return ".dump.bz2"
	default:
		return ".dump"
	}
}

// FormatOf guesses the format from a file name, for files the catalog does
// not describe.
func FormatOf(name string) Format {
	name = strings.TrimSuffix(name, ".age") // an encrypted file: its compression comes before age
	for _, f := range []Format{Gzip, Zstd, Bzip2} {
		if strings.HasSuffix(name, Extension(f)) && len(name) > len(Extension(f)) {
			return f
		}
	}
	return None
}

// newCompressor wraps w. Level is 1-9 for every format (zstd's 1-9 map onto
// the encoder's four speeds); it is ignored for "none". oneEncoder: one
// core, the smaller buffers (OneEncoder).
func newCompressor(format Format, level int, w io.Writer, oneEncoder bool) (io.WriteCloser, error) {
	streams := runtime.GOMAXPROCS(0)
	if oneEncoder {
		streams = 1
	}
	switch format {
	case Gzip:
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, err
		}
		// 1 MiB blocks, one in flight per core: parallel, yet bounded memory.
		if err := zw.SetConcurrency(1<<20, streams); err != nil {
			return nil, err
		}
		return zw, nil
	case Zstd:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(streams), zstd.WithLowerEncoderMem(oneEncoder))
	case Bzip2:
		return bzip2.NewWriter(w, &bzip2.WriterConfig{Level: level})
	case None:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression format %q", format)
}

// newDecompressor reads format from r.
func newDecompressor(format Format, r io.Reader) (io.ReadCloser, error) {
	switch format {
	case Gzip:
		return pgzip.NewReader(r)
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case Bzip2:
		return bzip2.NewReader(r, nil)
	case None:
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown compression format %q", format)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
