// Package offsite keeps the copies of every good backup: in the bucket
// of BACKUP_S3_* (whose copy the catalog's archive_s3_path names) and in
// every destination of BACKUP_DESTINATIONS, all behind one interface
// (destination.Store). It copies a backup's files to each place at once,
// verifies them, records each copy (backup_copies), makes the row partial
// while any is missing, and copies again until each is there; it fetches
// a copy back when the local file is gone. A failed copy never touches
// the local backup.
package offsite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/retention"
)

// Open opens every place a good backup is copied to
// (config.AllDestinations: the BACKUP_S3_* bucket first), none: an empty
// set.
func Open(cfg config.Config) (destination.Opened, error) {
	return cfg.OpenDestinations(cfg.AllDestinations())
}

// Expiry is the last day S3 keeps a backup's copy: compliance copies
// BACKUP_CRITICAL_RETENTION_DAYS, daily ones BACKUP_S3_RETENTION_DAYS.
func Expiry(row catalog.Execution, cfg config.Config) time.Time {
	return retention.Expiry(row.BackupDate, row.RetentionClass, cfg.S3.RetentionDays, cfg.CriticalRetentionDays)
}

// ArchivePartials copies again every partial backup whose file is still
// here, to every place that lacks a verified copy, until each has all its
// copies: what `rgz-backup archive`, the daemon's hourly job and each
// backup's follow-up do. It returns the rows it tried, as they are now.
//
// A backup of a target with destinations of its own (the targets file) is
// copied to those (config.DestinationsFor).
func ArchivePartials(ctx context.Context, store *catalog.Store, cfg config.Config, log *slog.Logger) ([]catalog.Execution, error) {
	if len(cfg.AllDestinations()) == 0 && len(cfg.TargetDestinations) == 0 {
		return nil, nil
	}
	rows, err := store.List(ctx, catalog.Filter{Status: catalog.StatusPartial})
	if err != nil {
		return nil, err
	}
	opened := map[string]destination.Opened{} // by target with destinations of its own; "" the others
	defer func() {
		for _, o := range opened {
			o.Close()
		}
	}()
	placesFor := func(target string) (destination.Opened, error) {
		if _, own := cfg.TargetDestinations[target]; !own {
			target = ""
		}
		if o, ok := opened[target]; ok {
			return o, nil
		}
		o, err := cfg.OpenDestinations(cfg.DestinationsFor(target))
		if err == nil {
			opened[target] = o
		}
		return o, err
	}
	var tried []catalog.Execution
	var failed int
	for _, row := range rows {
		if row.DeletedAt != nil {
			continue
		}
		places, err := placesFor(row.TargetName)
		if err != nil {
			return tried, err
		}
		row, err := Keep(ctx, store, places, cfg, row, log)
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

// Keep makes sure a good backup has a verified copy in every place that
// takes it (Spread). The row ends success, or partial with every reason.
func Keep(ctx context.Context, store *catalog.Store, places destination.Opened, cfg config.Config, row catalog.Execution, log *slog.Logger) (catalog.Execution, error) {
	row, reasons := Spread(ctx, store, places, cfg, row, log)
	return settle(ctx, store, row, reasons)
}

// Spread copies a good backup to every place that lacks a verified copy
// of it and takes it (compliance=false destinations take no compliance
// copy), all at once, and records each outcome in backup_copies; the
// BACKUP_S3_* bucket's copy also in archive_s3_path. A compliance copy
// is locked where the place can (S3 Object Lock) until its retention
// there ends. It returns the row as it is now and why each place still
// lacks a copy.
func Spread(ctx context.Context, store *catalog.Store, places destination.Opened, cfg config.Config, row catalog.Execution, log *slog.Logger) (catalog.Execution, []string) {
	if len(places.Stores) == 0 {
		return row, nil
	}
	have, err := store.Copies(ctx, row.ID)
	if err != nil {
		return row, []string{err.Error()}
	}
	verified := map[string]bool{}
	for _, c := range have {
		verified[c.Destination] = c.Verified()
	}
	compliance := row.RetentionClass == retention.ClassCompliance
	var todo []Target
	var specs []destination.Spec
	for i, st := range places.Stores {
		spec := places.Specs[i]
		switch {
		case spec.Archive && row.ArchiveS3Path != nil: // there, or deleted by S3's retention
			continue
		case !spec.Archive && verified[st.String()]:
			continue
		case compliance && !spec.Compliance:
			continue
		}
		todo, specs = append(todo, Target{Store: st, RetainUntil: retainUntil(st, spec, row, cfg)}), append(specs, spec)
	}
	if len(todo) == 0 {
		return row, nil
	}
	files, err := Files(row, cfg.LocalDir)
	if err != nil {
		return row, []string{err.Error()}
	}
	var missing []string
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for i, sent := range Send(ctx, todo, files) {
		c := catalog.Copy{BackupID: row.ID, Destination: sent.Destination, Location: files[0].Name}
		if sent.Err == nil && specs[i].Archive {
			sent.Err = recordArchived(recordCtx, store, cfg, &row, todo[i].Store, files[0].Name)
		}
		if sent.Err == nil {
			now, size := time.Now().UTC(), files[0].Want.Size
			c.VerifiedAt, c.SizeBytes, c.ChecksumCRC32 = &now, &size, row.ChecksumCRC32
			log.Info("backup copied", "file", row.Filename, "destination", sent.Destination, "bytes", sent.Bytes, "seconds", sent.Took.Seconds())
		} else {
			msg := sent.Err.Error()
			c.LastError = &msg
			why := "copy to " + sent.Destination + " failed: " + msg
			if specs[i].Archive {
				why = "S3 archive failed: " + msg // what the notifications and the runbook have always said
			}
			missing = append(missing, why)
			log.Warn("backup not copied: partial", "file", row.Filename, "destination", sent.Destination, "error", sent.Err)
		}
		if err := store.RecordCopy(recordCtx, c); err != nil {
			missing = append(missing, err.Error())
		}
	}
	return row, missing
}

// recordArchived records the BACKUP_S3_* bucket's copy where the platform
// reads it: archive_s3_path and s3_retention_until.
func recordArchived(ctx context.Context, store *catalog.Store, cfg config.Config, row *catalog.Execution, st destination.Store, name string) error {
	url := st.String() + "/" + name // s3://BUCKET/PREFIX/YYYY/MM/FILE
	until := Expiry(*row, cfg)
	if err := store.SetArchived(ctx, row.ID, url, until); err != nil {
		return err
	}
	row.ArchiveS3Path, row.S3RetentionUntil = &url, &catalog.Date{Time: until}
	return nil
}

// retainUntil is how long a copy must stay immutable in a place that can
// make it so: a compliance copy, through the last day its retention there
// keeps it. Daily copies are not locked (retention must be free to remove
// them).
func retainUntil(st destination.Store, spec destination.Spec, row catalog.Execution, cfg config.Config) time.Time {
	if row.RetentionClass != retention.ClassCompliance || !st.Retains() {
		return time.Time{}
	}
	days := spec.RetentionDays
	if days == 0 {
		days = cfg.LocalRetentionDays
	}
	return retention.Expiry(row.BackupDate, row.RetentionClass, days, cfg.CriticalRetentionDays).AddDate(0, 0, 1)
}

// settle gives a row the status its copies call for: partial with every
// reason while any copy is missing, success once none is.
func settle(ctx context.Context, store *catalog.Store, row catalog.Execution, reasons []string) (catalog.Execution, error) {
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if len(reasons) == 0 {
		if row.Status == catalog.StatusPartial {
			if err := store.SetSuccess(recordCtx, row.ID); err != nil {
				return row, err
			}
			row.Status, row.ErrorMessage = catalog.StatusSuccess, nil
		}
		return row, nil
	}
	reason := strings.Join(reasons, "; ")
	if err := store.SetPartial(recordCtx, row.ID, reason); err != nil {
		return row, errors.Join(errors.New(reason), err)
	}
	row.Status, row.ErrorMessage = catalog.StatusPartial, &reason
	return row, errors.New(reason)
}
