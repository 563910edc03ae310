package archive

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Unnamed opens a new, empty file in dir that no name reaches, for the
// plaintext a restore needs on disk (a decrypted, decompressed archive for
// a parallel pg_restore) or a copy fetched from a destination: the kernel
// frees it when the last descriptor on it closes, however the process
// ends — a return, a panic, SIGKILL, the OOM killer. It is O_TMPFILE where
// the file system has it (ext4, xfs, btrfs, tmpfs); elsewhere a file
// created under a hidden random name (0600) and unlinked at once, empty in
// between. A child process reads it as /dev/fd/N when given it (dump's
// ExtraFiles); this process opens it again by Reopen's path.
func Unnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, fmt.Errorf("a temporary file in %s: %w", dir, err)
	}
	f, err := os.OpenFile(dir+"/"+TempName("unnamed"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("a temporary file in %s: %w", dir, err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("a temporary file in %s: %w", dir, err)
	}
	return f, nil
}

// Reopen is a path by which this process opens f again, with an offset of
// its own (Linux's /proc/self/fd): how code that reads by path reads an
// Unnamed file. It means nothing to another process.
func Reopen(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }
