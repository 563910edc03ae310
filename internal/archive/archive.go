// Package archive writes and re-reads backup files. A Writer compresses a
// stream and checksums it in the same pass, into a hidden temporary file
// that becomes the backup only by an atomic rename once it is synced; Check
// re-reads a file, recomputing every checksum and decompressing all of it.
// Memory stays constant whatever the size of the stream.
package archive

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Sums describes a backup's bytes: as stored on disk, and as pg_dump wrote
// them before compression.
type Sums struct {
	Size     int64  // bytes of the file
	CRC32    uint32 // IEEE, as zlib's crc32 and `gzip -l`'s
	SHA256   [32]byte
	RawSize  int64 // bytes pg_dump wrote
	RawCRC32 uint32
}

// CRC32Hex is the file's CRC32 as the catalog stores it: 8 lowercase hex digits.
func (s Sums) CRC32Hex() string { return fmt.Sprintf("%08x", s.CRC32) }

// RawCRC32Hex is the uncompressed stream's CRC32, 8 lowercase hex digits.
func (s Sums) RawCRC32Hex() string { return fmt.Sprintf("%08x", s.RawCRC32) }

// SHA256Hex is the file's SHA-256 in lowercase hex.
func (s Sums) SHA256Hex() string { return hex.EncodeToString(s.SHA256[:]) }

// TempPrefix marks files being written; anything named so is never a backup.
const TempPrefix = ".tmp-"

// TempName is a fresh temporary name for name: hidden, never taken for a
// backup, removed by RemoveOrphans if its writer dies.
func TempName(name string) string { return TempPrefix + name + "-" + randomSuffix() }

// Writer is a backup file being written. Write the uncompressed stream to
// it, Close it, then Commit it under its final name or Abort it.
type Writer struct {
	dir, name, tmpPath string
	file               *os.File
	stored             *hashingWriter // sees the bytes stored, in front of the file
	raw                *hashingWriter // sees the uncompressed bytes
	compressor         io.WriteCloser
	sealer             io.WriteCloser // between the compressor and the file; nil: none
	closed, done       bool

	// For Follow: how many bytes the file holds, and whether it is complete.
	mu       sync.Mutex
	grew     *sync.Cond
	onDisk   int64
	finished bool
}

// Option changes how Create writes a file.
type Option func(*options)

type options struct {
	seal       func(io.Writer) (io.WriteCloser, error)
	oneEncoder bool
}

// OneEncoder compresses on one core with the encoder's smaller buffers:
// for the small files a long-running daemon writes one after another
// (WAL segments), where its memory matters more than a second core.
func OneEncoder() Option {
	return func(o *options) { o.oneEncoder = true }
}

// SealedBy encrypts the compressed stream with seal before it reaches the
// file: nothing in plaintext is ever written, and the file's checksums
// are those of the ciphertext.
func SealedBy(seal func(io.Writer) (io.WriteCloser, error)) Option {
	return func(o *options) { o.seal = seal }
}

// Create starts a backup file that will be named name in dir.
func Create(dir, name string, format Format, level int, opts ...Option) (*Writer, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tmp := filepath.Join(dir, TempName(name))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	w := &Writer{dir: dir, name: name, tmpPath: tmp, file: f}
	w.grew = sync.NewCond(&w.mu)
	w.stored = newHashingWriter(notifyingWriter{w}, true)
	var compressed io.Writer = w.stored
	if o.seal != nil {
		if w.sealer, err = o.seal(w.stored); err != nil {
			f.Close()
			os.Remove(tmp)
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		compressed = w.sealer
	}
	w.compressor, err = newCompressor(format, level, compressed, o.oneEncoder)
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	w.raw = newHashingWriter(w.compressor, false)
	return w, nil
}

// Write compresses p into the file.
func (w *Writer) Write(p []byte) (int, error) { return w.raw.Write(p) }

// RawBytes and StoredBytes report progress; safe to call from any goroutine.
func (w *Writer) RawBytes() int64    { return w.raw.n.Load() }
func (w *Writer) StoredBytes() int64 { return w.stored.n.Load() }

// TempPath is where the file is while it is not committed.
func (w *Writer) TempPath() string { return w.tmpPath }

// Close flushes the compressor (and the encryption) and syncs the file to
// disk.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.finish()
	if err := w.compressor.Close(); err != nil {
		w.file.Close()
		return fmt.Errorf("finish compression: %w", err)
	}
	if w.sealer != nil {
		if err := w.sealer.Close(); err != nil {
			w.file.Close()
			return fmt.Errorf("finish encryption: %w", err)
		}
	}
	if err := w.file.Sync(); err != nil {
		w.file.Close()
		return fmt.Errorf("sync %s: %w", w.tmpPath, err)
	}
	return w.file.Close()
}

// Sums are the checksums computed while writing (valid after Close).
func (w *Writer) Sums() Sums {
	return Sums{Size: w.stored.n.Load(), CRC32: w.stored.crc.Sum32(), SHA256: [32]byte(w.stored.sha.Sum(nil)),
		RawSize: w.raw.n.Load(), RawCRC32: w.raw.crc.Sum32()}
}

// Commit gives the closed file its final name, atomically, and makes the
// rename durable. It refuses to replace an existing file.
func (w *Writer) Commit() (string, error) {
	if !w.closed {
		return "", errors.New("commit before close")
	}
	final := filepath.Join(w.dir, w.name)
	if err := os.Link(w.tmpPath, final); err != nil { // link, unlike rename, never overwrites
		return "", fmt.Errorf("publish %s: %w", final, err)
	}
	if err := os.Remove(w.tmpPath); err != nil {
		return "", err
	}
	w.done = true
	return final, SyncDir(w.dir)
}

// Abort removes the temporary file. It is safe after Commit (it does nothing).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	if !w.closed {
		w.closed = true
		w.compressor.Close()
		w.file.Close()
	}
	w.finish()
	os.Remove(w.tmpPath)
	w.done = true
}

// Follow opens the file being written for reading. Its reads wait at the
// end of what is written so far until more comes, and return io.EOF once
// the writer is closed or aborted: a check can read the file back while it
// is still being written, on a core the stream leaves idle.
func (w *Writer) Follow() (io.ReadCloser, error) {
	f, err := os.Open(w.tmpPath)
	if err != nil {
		return nil, err
	}
	return &follower{w: w, f: f}, nil
}

func (w *Writer) finish() {
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
	w.grew.Broadcast()
}

// notifyingWriter writes to the file and wakes followers.
type notifyingWriter struct{ w *Writer }

func (n notifyingWriter) Write(p []byte) (int, error) {
	c, err := n.w.file.Write(p)
	n.w.mu.Lock()
	n.w.onDisk += int64(c)
	n.w.mu.Unlock()
	n.w.grew.Broadcast()
	return c, err
}

type follower struct {
	w   *Writer
	f   *os.File
	off int64
}

func (r *follower) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		r.off += int64(n)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		r.w.mu.Lock()
		for r.w.onDisk <= r.off && !r.w.finished {
			r.w.grew.Wait()
		}
		end := r.w.finished && r.w.onDisk <= r.off
		r.w.mu.Unlock()
		if end {
			return 0, io.EOF
		}
	}
}

func (r *follower) Close() error { return r.f.Close() }

// WriteFileAtomic writes a small file (a sidecar) so that it exists either
// whole or not at all.
func WriteFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), TempName(filepath.Base(path)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// RemoveOrphans deletes temporary files left in dir by a writer that died
// (a killed process, a power cut). Call it only while holding the backup
// lock, so that no live writer's file is taken. It returns what it removed.
func RemoveOrphans(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
				removed = append(removed, e.Name())
			}
		}
	}
	return removed, nil
}

// SyncDir makes a directory's entries (new names, removals) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hashingWriter counts and checksums what passes through it.
type hashingWriter struct {
	w   io.Writer
	n   atomic.Int64
	crc hash.Hash32
	sha hash.Hash // nil when not wanted
}

func newHashingWriter(w io.Writer, withSHA bool) *hashingWriter {
	h := &hashingWriter{w: w, crc: crc32.NewIEEE()}
	if withSHA {
		h.sha = sha256.New()
	}
	return h
}

func (h *hashingWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.crc.Write(p[:n])
	if h.sha != nil {
		h.sha.Write(p[:n])
	}
	h.n.Add(int64(n))
	return n, err
}
