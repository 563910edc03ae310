// Package disk reports how full the file system under a directory is, as
// `df` does.
package disk

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Usage of the file system holding a directory, in bytes. Free is what an
// unprivileged writer may still use (df's Avail); Used is what is written
// (df's Used: the blocks not free, the root-reserved ones left out).
type Usage struct {
	Free, Used, Total uint64
}

// UsedRatio is the used share of the file system as `df` computes Use%:
// Used / (Used + Free), so that the blocks reserved for root (5 % on ext4)
// count neither as used nor as available. 0 to 1.
func (u Usage) UsedRatio() float64 {
	if u.Used+u.Free == 0 {
		return 0
	}
	return float64(u.Used) / float64(u.Used+u.Free)
}

// FromStatfs is the usage statfs describes: sizes in fragments (f_frsize),
// as df counts them.
func FromStatfs(blocks, bfree, bavail, frsize uint64) Usage {
	return Usage{Free: bavail * frsize, Used: (blocks - bfree) * frsize, Total: blocks * frsize}
}

// UsageOf returns the usage of the file system holding dir.
func UsageOf(dir string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Usage{}, fmt.Errorf("free space of %s: %w", dir, err)
	}
	frsize := uint64(st.Frsize)
	if frsize == 0 {
		frsize = uint64(st.Bsize)
	}
	return FromStatfs(st.Blocks, st.Bfree, st.Bavail, frsize), nil
}
