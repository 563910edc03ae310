// Package sealed makes the point-in-time recovery archive's stored files
// (WAL segments, base backups): a stream compressed and, with recipients,
// encrypted into a work directory, read back whole before anything is
// copied — a copy is only ever of a file that restores — then copied to
// every place of the archive, each copy verified by its Put.
package sealed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/destination"
)

// Form is how stored files are made.
type Form struct {
	Format    archive.Format
	Level     int
	Encrypter *crypt.Encrypter // nil: not encrypted
	// OneEncoder: compress on one core, with less memory
	// (archive.OneEncoder): for WAL, shipped file after file by serve.
	OneEncoder bool
}

// Ext is the stored files' extension: the compression's (".zst"), then
// ".age" when they are encrypted.
func (f Form) Ext() string {
	ext := strings.TrimPrefix(archive.Extension(f.Format), ".dump")
	if f.Encrypter != nil {
		ext += ".age"
	}
	return ext
}

// File is a stored file, written and read back.
type File struct {
	Path      string       // in the work directory
	Sums      archive.Sums // of the stored file, and of what was read from src (RawSize, RawCRC32)
	RawSHA256 string       // of what was read from src
}

// Write writes src's stored form as dir/name (through a temporary file:
// an interrupted write leaves none under that name) and reads it back
// whole, decrypted and decompressed, comparing what it reads with what was
// written.
func (f Form) Write(dir, name string, src io.Reader) (File, error) {
	var opts []archive.Option
	var read []archive.ReadOption
	if f.OneEncoder {
		opts = append(opts, archive.OneEncoder())
	}
	if f.Encrypter != nil {
		opts = append(opts, archive.SealedBy(f.Encrypter.Seal))
		read = append(read, archive.OpenedBy(f.Encrypter.Validation().Open))
	}
	w, err := archive.Create(dir, name, f.Format, f.Level, opts...)
	if err != nil {
		return File{}, err
	}
	defer w.Abort()
	sha := sha256.New()
	if _, err := io.Copy(w, io.TeeReader(src, sha)); err != nil {
		w.Close()
		return File{}, err
	}
	if err := w.Close(); err != nil {
		return File{}, err
	}
	out := File{Sums: w.Sums(), RawSHA256: hex.EncodeToString(sha.Sum(nil))}
	back, err := archive.Check(context.Background(), w.TempPath(), f.Format, io.Discard, read...)
	if err != nil {
		return File{}, fmt.Errorf("read back: %w", err)
	}
	if back.SHA256 != out.Sums.SHA256 || back.RawSize != out.Sums.RawSize || back.RawCRC32 != out.Sums.RawCRC32 {
		return File{}, errors.New("read back: not what was written")
	}
	if out.Path, err = w.Commit(); err != nil {
		return File{}, err
	}
	return out, nil
}

// CopyEverywhere puts the stored file under key in every store, each copy
// verified by its Put; it returns the places that hold it, and what
// failed elsewhere (what, for the errors: the file's name for a person).
func CopyEverywhere(ctx context.Context, stores []destination.Store, f File, key, what string) (copies []string, err error) {
	file, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	src, err := destination.File(file)
	if err != nil {
		return nil, err
	}
	var failed []error
	for _, st := range stores {
		err := st.Put(ctx, key, src, destination.PutOptions{Want: destination.Want{Size: f.Sums.Size, CRC32: f.Sums.CRC32}})
		if err != nil {
			failed = append(failed, fmt.Errorf("copy %s to %s: %w", what, st, err))
			continue
		}
		copies = append(copies, st.String())
	}
	return copies, errors.Join(failed...)
}

// Name is the last element of a key, the stored file's name in the work
// directory.
func Name(key string) string { return filepath.Base(filepath.FromSlash(key)) }

// ErrNotFound is Fetch's error when no place holds the key.
var ErrNotFound = errors.New("in no place of the archive")

// Expect is what a stored file must be, as the catalog recorded it; a
// zero field is not checked.
type Expect struct {
	StoredSHA256 string
	RawSHA256    string
}

// Fetch reads the stored file key from the first place that has it,
// decrypted (dec: nil when it is not encrypted) and decompressed into
// sink, and checks it against want; a place that fails is skipped for the
// next. No place holding it is ErrNotFound; every place failing otherwise
// is their errors (the archive unreachable: not the same thing).
func Fetch(ctx context.Context, stores []destination.Store, key string, format archive.Format, dec *crypt.Decrypter, want Expect,
	sink func() (io.Writer, error)) error {
	var failed []error
	for _, st := range stores {
		r, err := st.Open(ctx, key)
		if errors.Is(err, destination.ErrNotFound) {
			continue
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", st, err))
			continue
		}
		w, err := sink()
		if err != nil {
			r.Close()
			return err
		}
		var opts []archive.ReadOption
		if dec != nil {
			opts = append(opts, archive.OpenedBy(dec.Open))
		}
		raw := sha256.New()
		sums, err := archive.CheckReader(ctx, r, format, io.MultiWriter(w, raw), opts...)
		r.Close()
		switch {
		case err != nil:
			err = fmt.Errorf("read %s from %s: %w", key, st, err)
		case want.StoredSHA256 != "" && sums.SHA256Hex() != want.StoredSHA256:
			err = fmt.Errorf("%s in %s: SHA-256 %s, the catalog recorded %s", key, st, sums.SHA256Hex(), want.StoredSHA256)
		case want.RawSHA256 != "" && hex.EncodeToString(raw.Sum(nil)) != want.RawSHA256:
			err = fmt.Errorf("%s in %s: its content is not what was shipped (SHA-256 mismatch)", key, st)
		}
		if err == nil {
			return nil
		}
		failed = append(failed, err)
	}
	if len(failed) == 0 {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return errors.Join(failed...)
}

// PutBytes puts a small plain file (a sidecar) under key in every store,
// each copy verified by its Put.
func PutBytes(ctx context.Context, stores []destination.Store, key string, data []byte) error {
	src := bytes.NewReader(data)
	want := destination.Want{Size: int64(len(data)), CRC32: crc32.ChecksumIEEE(data)}
	var failed []error
	for _, st := range stores {
		if err := st.Put(ctx, key, src, destination.PutOptions{Want: want}); err != nil {
			failed = append(failed, fmt.Errorf("copy %s to %s: %w", key, st, err))
		}
	}
	return errors.Join(failed...)
}
