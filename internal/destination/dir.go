package destination

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Dir is a destination in a directory (file:///mnt/nas/rgz): a second
// disk, a NAS or an NFS mount. A copy is written to a hidden temporary
// file, synced, checked, and renamed into place: a crash or a failure
// never leaves a file under a backup's name that is not whole. It does not
// support immutability: RetainUntil is ignored (a file system has no
// retention lock; mount the share read-only elsewhere, or use S3 with
// Object Lock, for that).
type Dir struct {
	Root string
}

func init() {
	register(KindFile, kind{
		form: "file:///PATH",
		parse: func(u *url.URL, s *Spec) error {
			if u.Host != "" || !path.IsAbs(u.Path) || path.Clean(u.Path) == "/" {
				return fmt.Errorf("file:// needs an absolute directory other than / (file:///mnt/nas/rgz)")
			}
			s.Path = path.Clean(u.Path)
			return nil
		},
		url:  func(s Spec) string { return "file://" + s.Path },
		open: func(s Spec, _ Settings) (Store, error) { return Dir{Root: s.Path}, nil },
	})
}

func (d Dir) String() string { return "file://" + d.Root }

// Close has nothing to end.
func (d Dir) Close() error { return nil }

// Retains is false: a directory has no retention lock.
func (d Dir) Retains() bool { return false }

// path maps a name to its file, refusing names that would leave Root or
// that are hidden (temporary files are hidden).
func (d Dir) path(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("%s: %w", d, err)
	}
	return filepath.Join(d.Root, filepath.FromSlash(name)), nil
}

func (d Dir) Put(ctx context.Context, name string, src Source, o PutOptions) error {
	final, err := d.path(name)
	if err != nil {
		return err
	}
	if err := CheckSource(ctx, src, o.Want); err != nil {
		return fmt.Errorf("copy to %s refused: %w", d, err)
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	removeStale(dir, filepath.Base(final))
	tmp := filepath.Join(dir, tempPrefix(filepath.Base(final))+randomSuffix())
	if err := d.write(ctx, tmp, src, o.Want); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s to %s: %w", name, d, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s to %s: %w", name, d, err)
	}
	return syncDir(dir)
}

// write copies src into a new file at tmp, syncs it, and reads it back
// against want.
func (d Dir) write(ctx context.Context, tmp string, src Source, want Want) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if err := fill(ctx, f, src); err != nil {
		return err
	}
	back, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer back.Close()
	return ReadBack(ctx, back, want)
}

func (d Dir) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s in %s: %w", name, d, ErrNotFound)
	}
	return f, err
}

func (d Dir) Stat(ctx context.Context, name string) (Object, error) {
	p, err := d.path(name)
	if err != nil {
		return Object{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%s in %s: %w", name, d, ErrNotFound)
	}
	if err != nil {
		return Object{}, err
	}
	return Object{Name: name, Size: st.Size()}, nil
}

func (d Dir) List(ctx context.Context) ([]Object, error) {
	var out []Object
	err := filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == d.Root {
				return fs.SkipAll // nothing copied here yet
			}
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != d.Root {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil // a temporary file, never a copy
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.Root, p)
		out = append(out, Object{Name: filepath.ToSlash(rel), Size: info.Size()})
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d, err)
	}
	return out, nil
}

func (d Dir) Remove(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s from %s: %w", name, d, err)
	}
	return syncDir(filepath.Dir(p))
}

// removeStale removes what interrupted Puts of base left in dir (their
// temporary files), once StaleAfter old.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix(base)) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > StaleAfter {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
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
