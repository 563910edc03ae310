package backup

import (
	"fmt"
	"sort"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// Suspicions says why a backup that passed every check still looks wrong,
// compared with the recent successful ones (newest first): much smaller
// than usual, or fewer tables than the previous one. Sizes are compared
// uncompressed, so that a change of compression format is not a suspicion.
// Tools our users left reported empty dumps as successes; this is the guard.
func Suspicions(rawSize int64, tables int, recent []catalog.Execution) []string {
	reasons := []string{} // never nil: the manifest and the row both say []
	var sizes []int64
	for _, r := range recent {
		if r.UncompressedSizeBytes != nil {
			sizes = append(sizes, *r.UncompressedSizeBytes)
		}
	}
	if len(sizes) > 0 {
		m := median(sizes)
		if rawSize < m/2 {
			reasons = append(reasons, fmt.Sprintf("dump is %d bytes, under half the median (%d bytes) of the last %d successful backups", rawSize, m, len(sizes)))
		}
	}
	if len(recent) > 0 && tables < recent[0].ObjectCounts.Tables {
		reasons = append(reasons, fmt.Sprintf("%d tables, the previous backup (%s) had %d", tables, recent[0].Filename, recent[0].ObjectCounts.Tables))
	}
	return reasons
}

func median(v []int64) int64 {
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
