// Package offsite keeps the copy of every good backup in S3: it uploads a
// backup's files, verifies them, records the copy (archive_s3_path), and
// uploads again the partial backups whose copy failed, until each is
// there. A failed copy never touches the local backup.
package offsite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/retention"
	"github.com/mosaique/rgz-backup/internal/storage"
)

// Expiry is the last day S3 keeps a backup's copy: compliance copies
// BACKUP_CRITICAL_RETENTION_DAYS, daily ones BACKUP_S3_RETENTION_DAYS.
func Expiry(row catalog.Execution, cfg config.Config) time.Time {
	return retention.Expiry(row.BackupDate, row.RetentionClass, cfg.S3.RetentionDays, cfg.CriticalRetentionDays)
}

// Copy uploads a good backup's files (the dump, then its .sha256,
// globals and manifest sidecars) to s3://BUCKET/PREFIX/YYYY/MM/, verifies
// each, and records the copy (archive_s3_path; status success). Any
// failure makes the row partial with the reason: the local backup stands.
// With BACKUP_S3_OBJECT_LOCK, a compliance copy is locked until its S3
// retention ends.
func Copy(ctx context.Context, store *catalog.Store, s3 *storage.S3, cfg config.Config, row catalog.Execution, log *slog.Logger) (catalog.Execution, error) {
	until := Expiry(row, cfg)
	var lockUntil time.Time
	if cfg.S3.ObjectLock && row.RetentionClass == retention.ClassCompliance {
		lockUntil = until.AddDate(0, 0, 1) // through the whole last day
	}
	err := uploadFiles(ctx, s3, cfg, row, lockUntil, log)
	if err == nil {
		url := s3.URL(s3.Key(row.BackupDate, row.Filename))
		if err = store.SetArchived(ctx, row.ID, url, until); err == nil {
			row.ArchiveS3Path, row.S3RetentionUntil = &url, &catalog.Date{Time: until}
			row.Status, row.ErrorMessage = catalog.StatusSuccess, nil
			log.Info("backup archived to S3", "file", row.Filename, "s3", url)
			return row, nil
		}
	}
	reason := "S3 archive failed: " + err.Error()
	// Record it even when ctx is what failed (a timeout).
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if rerr := store.SetPartial(recordCtx, row.ID, reason); rerr != nil {
		return row, fmt.Errorf("%s; and %w", reason, rerr)
	}
	row.Status, row.ErrorMessage = catalog.StatusPartial, &reason
	log.Warn("backup kept locally but not archived to S3: partial", "file", row.Filename, "error", err)
	return row, errors.New(reason)
}

func uploadFiles(ctx context.Context, s3 *storage.S3, cfg config.Config, row catalog.Execution, lockUntil time.Time, log *slog.Logger) error {
	files := layout.Of(row, cfg.LocalDir)
	for _, path := range files.All() {
		if _, err := os.Stat(path); err != nil {
			if path == files.Dump || path == files.SHA256 { // these must be there
				return fmt.Errorf("%s: %w", filepath.Base(path), err)
			}
			continue // no globals (a warning on the row), no manifest, no restore test yet
		}
		key := s3.Key(row.BackupDate, filepath.Base(path))
		f, err := lock.OpenForReading(path) // retention waits
		if err != nil {
			return err
		}
		landed, err := s3.Upload(ctx, f, key, lockUntil)
		f.Close()
		if err != nil {
			return err
		}
		log.Debug("uploaded", "key", key, "bytes", landed.Size, "verified_by", landed.VerifiedBy)
	}
	return nil
}

// ArchivePartials copies again every partial backup whose file is still
// here, to S3 and to every destination that lacks a verified copy, until
// each has all its copies: what `rgz-backup archive`, the daemon's hourly
// job and each backup's follow-up do. It returns the rows it tried, as
// they are now.
func ArchivePartials(ctx context.Context, store *catalog.Store, cfg config.Config, log *slog.Logger) ([]catalog.Execution, error) {
	if !cfg.S3.Enabled && len(cfg.Destinations.List) == 0 {
		return nil, nil
	}
	rows, err := store.List(ctx, catalog.Filter{Status: catalog.StatusPartial})
	if err != nil {
		return nil, err
	}
	var s3 *storage.S3
	if cfg.S3.Enabled {
		if s3, err = storage.NewS3(cfg.S3); err != nil {
			return nil, err
		}
	}
	places, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	defer places.Close()
	var tried []catalog.Execution
	var failed int
	for _, row := range rows {
		if row.DeletedAt != nil {
			continue
		}
		row, err := Keep(ctx, store, s3, places, cfg, row, log)
		tried = append(tried, row)
		if err != nil {
			failed++
		}
	}
	if failed > 0 {
		return tried, fmt.Errorf("%d of %d partial backups still lack a copy", failed, len(tried))
	}
	return tried, nil
}

// Keep makes sure a good backup has every copy it needs: in S3 (when s3
// is not nil, unless it has one there) and in every destination of
// places. The row ends success, or partial with every reason.
func Keep(ctx context.Context, store *catalog.Store, s3 *storage.S3, places destination.Opened, cfg config.Config, row catalog.Execution, log *slog.Logger) (catalog.Execution, error) {
	var reasons []string
	if s3 != nil && row.ArchiveS3Path == nil {
		var err error
		if row, err = Copy(ctx, store, s3, cfg, row, log); err != nil {
			reasons = append(reasons, err.Error())
		}
	}
	reasons = append(reasons, Spread(ctx, store, places, cfg, row, log)...)
	return settle(ctx, store, row, reasons)
}
