package lock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Reading a backup file (verify, restore, restore test, upload) holds a
// shared flock on it for as long as the file is open; retention deletes a
// file only under an exclusive flock it takes without waiting, so a file
// being read is never deleted under its reader.

// OpenForReading opens a backup file and holds a shared lock on it until
// it is closed. It waits for a deletion in progress, after which the file
// is gone and the open fails as for any missing file.
func OpenForReading(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s for reading: %w", path, err)
	}
	// Deleted while we waited: the name is gone, so is the backup.
	if _, err := os.Stat(path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ErrBeingRead says a backup file is open by a reader.
var ErrBeingRead = errors.New("being read (a restore, restore test, verify or upload holds it open)")

// RemoveUnlessRead removes a backup file unless a reader holds it
// (ErrBeingRead). A missing file is not an error: it is already gone.
func RemoveUnlessRead(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w", path, ErrBeingRead)
		}
		return fmt.Errorf("lock %s for deletion: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// BeingRead says whether a reader holds the file now.
func BeingRead(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	return false // closing f releases the lock we just took
}
