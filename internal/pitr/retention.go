package pitr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mosaique/rgz-backup/internal/basebackup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// ErrRefused is Expire's error when the policy refuses (a mass deletion).
var ErrRefused = errors.New("point-in-time recovery retention refused")

// Expired is what a retention pass removed.
type Expired struct {
	BaseBackups []string // labels
	WALFiles    int
}

// Expire applies BACKUP_PITR_RETENTION_DAYS to cluster systemID's
// archive (pitrplan.Retain): the base backups and WAL it no longer needs
// are removed from every place, then forgotten by the catalog; a place
// that fails keeps the catalog's row, and the next pass tries again.
// allowMass lifts the refusal of a mass deletion; dryRun only says what
// would go. The caller holds the cluster's base-backup lock.
func Expire(ctx context.Context, store *catalog.Store, stores []destination.Store, systemID uint64, now time.Time, days int, allowMass, dryRun bool, log *slog.Logger) (Expired, error) {
	var out Expired
	rows, err := store.BaseBackups(ctx, systemID)
	if err != nil {
		return out, fmt.Errorf("catalog: %w", err)
	}
	files, err := store.WALFiles(ctx, systemID)
	if err != nil {
		return out, fmt.Errorf("catalog: %w", err)
	}
	var kept []pitrplan.Kept
	byID := map[string]catalog.BaseBackup{}
	for _, b := range rows {
		if b.DeletedAt != nil || b.Status == "running" || b.Status == "requested" {
			continue
		}
		start, _ := wal.ParseLSN(b.StartLSN)
		kept = append(kept, pitrplan.Kept{ID: b.ID.String(), Label: b.Label, Good: b.Status == "success", StartedAt: b.StartedAt, Start: start})
		byID[b.ID.String()] = b
	}
	segSize := int64(wal.DefaultSegmentSize)
	var segments []wal.Segment
	bySegment := map[wal.Segment][]catalog.WALFile{}
	for _, f := range files {
		if f.Kind == catalog.WALHistory {
			continue
		}
		seg := wal.Segment{Timeline: f.Timeline, No: f.SegmentNo}
		if len(bySegment[seg]) == 0 {
			segments = append(segments, seg)
		}
		bySegment[seg] = append(bySegment[seg], f)
	}
	plan := pitrplan.Retain(kept, segments, segSize, now, days, allowMass)
	if plan.Refused != "" {
		return out, fmt.Errorf("%w: %s", ErrRefused, plan.Refused)
	}
	if dryRun {
		for _, id := range plan.DeleteBases {
			out.BaseBackups = append(out.BaseBackups, byID[id].Label)
		}
		for _, seg := range plan.DeleteFiles {
			out.WALFiles += len(bySegment[seg])
		}
		return out, nil
	}
	var failed []error
	for _, id := range plan.DeleteBases {
		b := byID[id]
		var keys []string
		if b.ObjectKey != "" {
			keys = append(keys, b.ObjectKey, basebackup.SidecarKey(systemID, b.Label), basebackup.TestKey(systemID, b.Label))
		}
		if err := removeEverywhere(ctx, stores, keys); err != nil {
			failed = append(failed, fmt.Errorf("base backup %s: %w", b.Label, err))
			continue
		}
		if err := store.MarkBaseBackupDeleted(ctx, b.ID, now); err != nil {
			failed = append(failed, fmt.Errorf("catalog: %w", err))
			continue
		}
		out.BaseBackups = append(out.BaseBackups, b.Label)
	}
	for _, seg := range plan.DeleteFiles {
		for _, f := range bySegment[seg] {
			if err := removeEverywhere(ctx, stores, []string{f.ObjectKey}); err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", f.FileName, err))
				continue
			}
			if err := store.DeleteWALFile(ctx, f); err != nil {
				failed = append(failed, fmt.Errorf("catalog: %w", err))
				continue
			}
			out.WALFiles++
		}
	}
	if len(out.BaseBackups)+out.WALFiles > 0 {
		log.Info("point-in-time recovery: retention removed what the window no longer needs", "system_id", systemID,
			"base_backups", out.BaseBackups, "wal_files", out.WALFiles, "days", days)
	}
	return out, errors.Join(failed...)
}

// removeEverywhere removes keys from every place; one already gone is
// not an error.
func removeEverywhere(ctx context.Context, stores []destination.Store, keys []string) error {
	var failed []error
	for _, st := range stores {
		for _, key := range keys {
			if err := st.Remove(ctx, key); err != nil && !errors.Is(err, destination.ErrNotFound) {
				failed = append(failed, fmt.Errorf("remove %s from %s: %w", key, st, err))
			}
		}
	}
	return errors.Join(failed...)
}
