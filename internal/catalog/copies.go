package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Copy is a backup's copy in one destination (backup_copies).
type Copy struct {
	BackupID    string `json:"backup_id"`
	Destination string `json:"destination"`
	Location    string `json:"location"`
	SizeBytes   *int64 `json:"size_bytes"`
	// ChecksumCRC32 is what the copy was verified against (the backup
	// file's CRC32, 8 hex digits).
	ChecksumCRC32 *string    `json:"checksum_crc32"`
	VerifiedAt    *time.Time `json:"verified_at"`
	DeletedAt     *time.Time `json:"deleted_at"`
	LastError     *string    `json:"last_error"`
}

// Verified says whether the copy is there, checked.
func (c Copy) Verified() bool { return c.VerifiedAt != nil && c.DeletedAt == nil }

// RecordCopy records the outcome of copying a backup to a destination: a
// verified copy (LastError nil), or the error of a failed attempt, which
// leaves an earlier verified copy's record as it was.
func (s *Store) RecordCopy(ctx context.Context, c Copy) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO backup_copies (backup_id, destination, location, size_bytes, checksum_crc32, verified_at, last_error, updated_at)
		VALUES ($1, $2, $3, $4, $7, $5, $6, now())
		ON CONFLICT (backup_id, destination) DO UPDATE SET
			location    = EXCLUDED.location,
			size_bytes  = COALESCE(EXCLUDED.size_bytes, backup_copies.size_bytes),
			checksum_crc32 = COALESCE(EXCLUDED.checksum_crc32, backup_copies.checksum_crc32),
			verified_at = COALESCE(EXCLUDED.verified_at, backup_copies.verified_at),
			deleted_at  = CASE WHEN EXCLUDED.verified_at IS NOT NULL THEN NULL ELSE backup_copies.deleted_at END,
			last_error  = EXCLUDED.last_error,
			updated_at  = now()`,
		c.BackupID, c.Destination, c.Location, c.SizeBytes, c.VerifiedAt, c.LastError, c.ChecksumCRC32)
	if err != nil {
		return fmt.Errorf("record the copy of %s in %s: %w", c.BackupID, c.Destination, err)
	}
	return nil
}

// Copies returns a backup's copies, by destination.
func (s *Store) Copies(ctx context.Context, backupID string) ([]Copy, error) {
	byBackup, err := s.CopiesOf(ctx, []string{backupID})
	if err != nil {
		return nil, err
	}
	if c := byBackup[backupID]; c != nil {
		return c, nil
	}
	return []Copy{}, nil
}

// CopiesOf returns the copies of several backups in one query, by backup
// id, each backup's by destination.
func (s *Store) CopiesOf(ctx context.Context, backupIDs []string) (map[string][]Copy, error) {
	rows, err := s.pool.Query(ctx, `SELECT backup_id::text, destination, location, size_bytes, checksum_crc32, verified_at, deleted_at, last_error
		FROM backup_copies WHERE backup_id = ANY($1::uuid[]) ORDER BY backup_id, destination`, backupIDs)
	if err != nil {
		return nil, fmt.Errorf("copies of %d backups: %w", len(backupIDs), err)
	}
	defer rows.Close()
	out := map[string][]Copy{}
	for rows.Next() {
		var c Copy
		if err := rows.Scan(&c.BackupID, &c.Destination, &c.Location, &c.SizeBytes, &c.ChecksumCRC32, &c.VerifiedAt, &c.DeletedAt, &c.LastError); err != nil {
			return nil, err
		}
		out[c.BackupID] = append(out[c.BackupID], c)
	}
	return out, rows.Err()
}

// SetSuccess records that a partial backup has every copy it needs now.
func (s *Store) SetSuccess(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_executions SET status = 'success', error_message = NULL WHERE id = $1 AND status = 'partial'`, id)
	if err != nil {
		return fmt.Errorf("mark %s success: %w", id, err)
	}
	return nil
}

// LiveCopy is a verified copy still in its destination, with its backup.
type LiveCopy struct {
	Copy
	Backup Execution
}

// LiveCopies returns the verified copies not yet deleted, with their
// backups' rows: what retention weighs in each destination.
func (s *Store) LiveCopies(ctx context.Context) ([]LiveCopy, error) {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = "e." + c
	}
	rows, err := s.pool.Query(ctx, `SELECT `+strings.Join(cols, ", ")+`, c.destination, c.location, c.size_bytes, c.verified_at
		FROM backup_copies c JOIN backup_executions e ON e.id = c.backup_id
		WHERE c.verified_at IS NOT NULL AND c.deleted_at IS NULL ORDER BY e.backup_date DESC`)
	if err != nil {
		return nil, fmt.Errorf("live copies: %w", err)
	}
	defer rows.Close()
	var out []LiveCopy
	for rows.Next() {
		var lc LiveCopy
		dest := append(lc.Backup.fields(), &lc.Destination, &lc.Location, &lc.SizeBytes, &lc.VerifiedAt)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		lc.BackupID = lc.Backup.ID
		out = append(out, lc)
	}
	return out, rows.Err()
}

// MarkCopyDeleted records that retention removed a backup's copy from a
// destination.
func (s *Store) MarkCopyDeleted(ctx context.Context, backupID, destination string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_copies SET deleted_at = $3, updated_at = now() WHERE backup_id = $1 AND destination = $2`,
		backupID, destination, at.UTC())
	if err != nil {
		return fmt.Errorf("mark the copy of %s in %s deleted: %w", backupID, destination, err)
	}
	return nil
}

// MarkCopyDeletedAt records that the copy of backupID at url (its place's
// URL, a slash, its location: what archive_s3_path holds) was removed:
// the copy it was recorded as, whatever the place's URL is now.
func (s *Store) MarkCopyDeletedAt(ctx context.Context, backupID, url string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE backup_copies SET deleted_at = $3, updated_at = now()
		WHERE backup_id = $1 AND destination || '/' || location = $2`, backupID, url, at.UTC())
	if err != nil {
		return fmt.Errorf("mark the copy of %s at %s deleted: %w", backupID, url, err)
	}
	return nil
}

// DestinationStat sums up one destination's copies, for the metrics.
type DestinationStat struct {
	Destination  string
	Copies       int       // verified and not deleted
	Failing      int       // copies whose last attempt failed
	Bytes        int64     // of the verified copies' dumps
	LastVerified time.Time // zero: none
}

// DestinationStats sums up the copies by destination.
func (s *Store) DestinationStats(ctx context.Context) ([]DestinationStat, error) {
	rows, err := s.pool.Query(ctx, `SELECT destination,
			count(*) FILTER (WHERE verified_at IS NOT NULL AND deleted_at IS NULL),
			count(*) FILTER (WHERE last_error IS NOT NULL AND deleted_at IS NULL),
			coalesce(sum(size_bytes) FILTER (WHERE verified_at IS NOT NULL AND deleted_at IS NULL), 0),
			max(verified_at)
		FROM backup_copies GROUP BY destination ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("copies by destination: %w", err)
	}
	defer rows.Close()
	var out []DestinationStat
	for rows.Next() {
		var d DestinationStat
		var last *time.Time
		if err := rows.Scan(&d.Destination, &d.Copies, &d.Failing, &d.Bytes, &last); err != nil {
			return nil, err
		}
		if last != nil {
			d.LastVerified = *last
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
