package basebackup

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mosaique/rgz-backup/internal/wal"
)

// WALRange is the WAL a base backup needs on one timeline: from Start
// (the checkpoint's redo point) to End (where the copy is consistent).
type WALRange struct {
	Timeline   uint32
	Start, End wal.LSN
}

// Manifest is what a base backup's backup_manifest says that a restore
// needs: the WAL ranges, in replay order (more than one only when the
// server changed timeline during the backup).
type Manifest struct {
	WALRanges []WALRange
}

// Start is where replay begins, on the first range's timeline.
func (m Manifest) Start() WALRange { return m.WALRanges[0] }

// End is where the copy is consistent, on the last range's timeline.
func (m Manifest) End() WALRange { return m.WALRanges[len(m.WALRanges)-1] }

// ParseManifest reads a backup_manifest (PostgreSQL 13 and later; JSON)
// for its WAL ranges.
func ParseManifest(b []byte) (Manifest, error) {
	var raw struct {
		Version   *int `json:"PostgreSQL-Backup-Manifest-Version"`
		WALRanges []struct {
			Timeline uint32 `json:"Timeline"`
			Start    string `json:"Start-LSN"`
			End      string `json:"End-LSN"`
		} `json:"WAL-Ranges"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Manifest{}, fmt.Errorf("backup_manifest: %w", err)
	}
	if raw.Version == nil {
		return Manifest{}, errors.New("backup_manifest: not a backup manifest (no PostgreSQL-Backup-Manifest-Version)")
	}
	if len(raw.WALRanges) == 0 {
		return Manifest{}, errors.New("backup_manifest: no WAL-Ranges")
	}
	var m Manifest
	for _, r := range raw.WALRanges {
		start, err := wal.ParseLSN(r.Start)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup_manifest: Start-LSN %q: %w", r.Start, err)
		}
		end, err := wal.ParseLSN(r.End)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup_manifest: End-LSN %q: %w", r.End, err)
		}
		if r.Timeline == 0 || end < start {
			return Manifest{}, fmt.Errorf("backup_manifest: WAL range %d %s-%s is not a range", r.Timeline, r.Start, r.End)
		}
		m.WALRanges = append(m.WALRanges, WALRange{Timeline: r.Timeline, Start: start, End: end})
	}
	// PostgreSQL lists the newest timeline first; replay goes the other way.
	slices.SortFunc(m.WALRanges, func(a, b WALRange) int { return cmp.Compare(a.Start, b.Start) })
	return m, nil
}
