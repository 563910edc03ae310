// Package disk reports how full the file system under a directory is.
package disk

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Usage of the file system holding a directory, in bytes. Free is what an
// unprivileged writer may still use.
type Usage struct {
	Free, Total uint64
}

// UsedRatio is the used share of the file system, 0 to 1.
func (u Usage) UsedRatio() float64 {
	if u.Total == 0 {
		return 0
	}
	return 1 - float64(u.Free)/float64(u.Total)
}

// UsageOf returns the usage of the file system holding dir.
func UsageOf(dir string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Usage{}, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return Usage{Free: st.Bavail * uint64(st.Bsize), Total: st.Blocks * uint64(st.Bsize)}, nil
}
