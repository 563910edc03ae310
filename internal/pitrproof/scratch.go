package pitrproof

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"
)

// ScratchDir is where the restore test's copies are made, under
// BACKUP_LOCAL_DIR: hidden, so that no listing takes it for a backup, and
// private.
//
// A copy holds the whole server in clear: it must not outlive its test,
// even when the test's process is killed and runs no cleanup. So each
// test holds an flock on NAME.lock beside its data directory NAME for as
// long as it lives; the kernel lets go of it when the process dies,
// however it dies. Sweep, which runs before every test and when the
// daemon starts, stops the server of every copy whose lock it can take
// and removes the copy.
const ScratchDir = ".pitr-restore-test"

// Scratch is one test's copy.
type Scratch struct {
	DataDir string
	lock    *os.File
	log     *slog.Logger
}

// Claim sweeps what killed tests left, then makes test id's data
// directory's place and holds its lock (the data directory itself is made
// by the restore).
func Claim(ctx context.Context, localDir string, id uuid.UUID, log *slog.Logger) (*Scratch, error) {
	root := filepath.Join(localDir, ScratchDir)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("the restore test's directory: %w", err)
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return nil, fmt.Errorf("the restore test's directory: %w", err)
	}
	Sweep(ctx, localDir, log)
	// A short name: the server's socket is in the data directory, and a
	// socket's path has at most 107 bytes.
	name := strings.ReplaceAll(id.String(), "-", "")[:12]
	lock, err := lockFile(filepath.Join(root, name+".lock"), true)
	if err != nil {
		return nil, fmt.Errorf("the restore test's lock: %w", err)
	}
	return &Scratch{DataDir: filepath.Join(root, name), lock: lock, log: log}, nil
}

// Remove stops the copy's server and removes the copy, then lets go of
// its lock.
func (s *Scratch) Remove(ctx context.Context) {
	if err := remove(ctx, s.DataDir); err != nil {
		s.log.Error("point-in-time restore test: the copy could not be removed; the next test or the daemon's start removes it",
			"dir", s.DataDir, "error", err)
		s.lock.Close() // kept: Sweep takes it
		return
	}
	_ = os.Remove(s.lock.Name())
	s.lock.Close()
}

// Sweep removes the copies under localDir whose test is gone (their lock
// is free), stopping their servers first; it says what it removed.
func Sweep(ctx context.Context, localDir string, log *slog.Logger) {
	root := filepath.Join(localDir, ScratchDir)
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, isLock := strings.CutSuffix(e.Name(), ".lock")
		if !isLock {
			if _, err := os.Stat(filepath.Join(root, e.Name()+".lock")); errors.Is(err, os.ErrNotExist) {
				// Made by a test killed before its lock was: no test owns it.
				sweepOne(ctx, root, e.Name(), nil, log)
			}
			continue
		}
		lock, err := lockFile(filepath.Join(root, e.Name()), false)
		if err != nil {
			continue // a live test's, or gone
		}
		sweepOne(ctx, root, name, lock, log)
	}
}

func sweepOne(ctx context.Context, root, name string, lock *os.File, log *slog.Logger) {
	dir := filepath.Join(root, name)
	err := remove(ctx, dir)
	if err == nil && lock != nil {
		err = os.Remove(lock.Name())
	}
	if lock != nil {
		lock.Close()
	}
	if err != nil {
		log.Error("point-in-time restore test: a copy left by an interrupted test could not be removed", "dir", dir, "error", err)
		return
	}
	log.Warn("point-in-time restore test: removed a copy left by an interrupted test", "dir", dir)
}

// lockFile opens path (creating it when create) and takes its flock
// without waiting. The lock held is path's own: a sweep may unlink a
// lock file between another process's open and its flock, which would
// then hold the lock of a file nobody can find; that is checked after
// the flock, and tried again (create) or given up.
func lockFile(path string, create bool) (*os.File, error) {
	for range 10 {
		flags := os.O_RDWR
		if create {
			flags |= os.O_CREATE
		}
		f, err := os.OpenFile(path, flags, 0o600)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return f, nil
		}
		f.Close()
		if !create {
			return nil, fmt.Errorf("%s: removed meanwhile", path)
		}
	}
	return nil, fmt.Errorf("%s: removed again and again by another process", path)
}

// remove stops the server of data directory dir, if one runs there, at
// once (the copy is thrown away: no checkpoint), and removes the
// directory. The server is the process its pid file names only when that
// process runs in dir: a pid file left by a crash may name a process that
// has nothing to do with it, which is never signalled.
func remove(ctx context.Context, dir string) error {
	if pid, ok := postmasterOf(dir); ok {
		_ = syscall.Kill(pid, syscall.SIGQUIT) // immediate shutdown
		stopped := false
		for range 100 { // 10 s
			if _, ok := postmasterOf(dir); !ok {
				stopped = true
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		if !stopped {
			_ = syscall.Kill(pid, syscall.SIGKILL) // its children see it die, and exit
		}
	}
	return os.RemoveAll(dir)
}

// postmasterOf is the pid of the server running in data directory dir:
// the one its pid file names, when that process is alive (not a zombie)
// and its working directory is dir.
func postmasterOf(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 1 {
		return 0, false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	if _, rest, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(rest, "Z") {
		return 0, false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return 0, false
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, false
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		resolved = abs
	}
	return pid, cwd == resolved
}
