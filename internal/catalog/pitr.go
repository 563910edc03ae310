package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WALKind is what a file of the WAL archive is (pitr_wal_files.kind).
type WALKind string

const (
	WALSegment WALKind = "segment" // a finished segment
	WALPartial WALKind = "partial" // the segment being written, as far as it was flushed
	WALHistory WALKind = "history" // a timeline history file
)

// WALFile is one file of a cluster's WAL archive that every place holds
// (table pitr_wal_files).
type WALFile struct {
	SystemID          uint64
	Kind              WALKind
	Timeline          uint32
	SegmentNo         uint64 // 0 for a history file
	FileName          string
	ObjectKey         string
	StartLSN, EndLSN  string // pg_lsn text; empty for a history file
	RawSize           int64
	RawSHA256         string
	StoredSize        int64
	StoredCRC32       string
	StoredSHA256      string
	CompressionFormat string
	Encrypted         bool
	Copies            []string
	ShippedAt         time.Time
}

// RecordWALFile records a shipped file. A partial copy replaces the
// segment's previous one; a finished segment removes its partial copy's
// row in the same transaction.
func (s *Store) RecordWALFile(ctx context.Context, f WALFile) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO pitr_wal_files (system_id, kind, timeline, segment_no, file_name, object_key,
			start_lsn, end_lsn, raw_size_bytes, raw_sha256, stored_size_bytes, stored_crc32, stored_sha256,
			compression_format, encrypted, copies)
			VALUES ($1::text::numeric, $2, $3, $4, $5, $6, nullif($7, '')::pg_lsn, nullif($8, '')::pg_lsn, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT (system_id, kind, timeline, segment_no) DO UPDATE SET file_name = excluded.file_name,
				object_key = excluded.object_key, start_lsn = excluded.start_lsn, end_lsn = excluded.end_lsn,
				raw_size_bytes = excluded.raw_size_bytes, raw_sha256 = excluded.raw_sha256,
				stored_size_bytes = excluded.stored_size_bytes, stored_crc32 = excluded.stored_crc32,
				stored_sha256 = excluded.stored_sha256, compression_format = excluded.compression_format,
				encrypted = excluded.encrypted, copies = excluded.copies, shipped_at = now()`,
			fmt.Sprint(f.SystemID), f.Kind, int64(f.Timeline), int64(f.SegmentNo), f.FileName, f.ObjectKey, f.StartLSN, f.EndLSN,
			f.RawSize, f.RawSHA256, f.StoredSize, f.StoredCRC32, f.StoredSHA256, f.CompressionFormat, f.Encrypted, f.Copies)
		if err != nil || f.Kind != WALSegment {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM pitr_wal_files WHERE system_id = $1::text::numeric AND kind = 'partial'
			AND timeline = $2 AND segment_no = $3`, fmt.Sprint(f.SystemID), int64(f.Timeline), int64(f.SegmentNo))
		return err
	})
}

// WALFiles are every recorded file of a cluster's archive, by timeline,
// then segment (history files first).
func (s *Store) WALFiles(ctx context.Context, systemID uint64) ([]WALFile, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, timeline, segment_no, file_name, object_key,
			coalesce(start_lsn::text, ''), coalesce(end_lsn::text, ''), raw_size_bytes, raw_sha256, stored_size_bytes,
			stored_crc32, stored_sha256, compression_format, encrypted, copies, shipped_at
		FROM pitr_wal_files WHERE system_id = $1::text::numeric
		ORDER BY kind <> 'history', timeline, segment_no, kind`, fmt.Sprint(systemID))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (WALFile, error) {
		f := WALFile{SystemID: systemID}
		var tli, no int64
		err := r.Scan(&f.Kind, &tli, &no, &f.FileName, &f.ObjectKey, &f.StartLSN, &f.EndLSN, &f.RawSize, &f.RawSHA256,
			&f.StoredSize, &f.StoredCRC32, &f.StoredSHA256, &f.CompressionFormat, &f.Encrypted, &f.Copies, &f.ShippedAt)
		f.Timeline, f.SegmentNo = uint32(tli), uint64(no)
		return f, err
	})
}
