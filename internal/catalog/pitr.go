package catalog

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
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
	History           string // a history file's text
}

// RecordWALFile records a shipped file. A partial copy replaces the
// segment's previous one; a finished segment removes its partial copy's
// row in the same transaction.
func (s *Store) RecordWALFile(ctx context.Context, f WALFile) error {
	// shipped_at is the moment the copy's WAL reaches (pitr.Row): the
	// window ends there. Unset (a row rebuilt from the places): now.
	var shippedAt *time.Time
	if !f.ShippedAt.IsZero() {
		shippedAt = &f.ShippedAt
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO pitr_wal_files (system_id, kind, timeline, segment_no, file_name, object_key,
			start_lsn, end_lsn, raw_size_bytes, raw_sha256, stored_size_bytes, stored_crc32, stored_sha256,
			compression_format, encrypted, copies, history, shipped_at)
			VALUES ($1::text::numeric, $2, $3, $4, $5, $6, nullif($7, '')::pg_lsn, nullif($8, '')::pg_lsn, $9, $10, $11, $12, $13, $14, $15, $16, nullif($17, ''),
				coalesce($18::timestamptz, now()))
			ON CONFLICT (system_id, kind, timeline, segment_no) DO UPDATE SET file_name = excluded.file_name,
				object_key = excluded.object_key, start_lsn = excluded.start_lsn, end_lsn = excluded.end_lsn,
				raw_size_bytes = excluded.raw_size_bytes, raw_sha256 = excluded.raw_sha256,
				stored_size_bytes = excluded.stored_size_bytes, stored_crc32 = excluded.stored_crc32,
				stored_sha256 = excluded.stored_sha256, compression_format = excluded.compression_format,
				encrypted = excluded.encrypted, copies = excluded.copies, history = excluded.history, shipped_at = excluded.shipped_at`,
			fmt.Sprint(f.SystemID), f.Kind, int64(f.Timeline), int64(f.SegmentNo), f.FileName, f.ObjectKey, f.StartLSN, f.EndLSN,
			f.RawSize, f.RawSHA256, f.StoredSize, f.StoredCRC32, f.StoredSHA256, f.CompressionFormat, f.Encrypted, f.Copies, f.History, shippedAt)
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
			stored_crc32, stored_sha256, compression_format, encrypted, copies, shipped_at, coalesce(history, '')
		FROM pitr_wal_files WHERE system_id = $1::text::numeric
		ORDER BY kind <> 'history', timeline, segment_no, kind`, fmt.Sprint(systemID))
	if err != nil {
		return nil, err
	}
	return collectWALFiles(rows, systemID)
}

func collectWALFiles(rows pgx.Rows, systemID uint64) ([]WALFile, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (WALFile, error) {
		f := WALFile{SystemID: systemID}
		var tli, no int64
		err := r.Scan(&f.Kind, &tli, &no, &f.FileName, &f.ObjectKey, &f.StartLSN, &f.EndLSN, &f.RawSize, &f.RawSHA256,
			&f.StoredSize, &f.StoredCRC32, &f.StoredSHA256, &f.CompressionFormat, &f.Encrypted, &f.Copies, &f.ShippedAt, &f.History)
		f.Timeline, f.SegmentNo = uint32(tli), uint64(no)
		return f, err
	})
}

// BaseBackup is one base backup of a cluster (table pitr_base_backups).
type BaseBackup struct {
	ID                uuid.UUID  `json:"id"`
	SystemID          uint64     `json:"system_id,string"`
	Label             string     `json:"label"`
	Status            string     `json:"status"`       // requested, running, success, failed
	TriggeredBy       string     `json:"triggered_by"` // scheduled, first, manual
	StartedAt         time.Time  `json:"started_at"`
	FinishedAt        *time.Time `json:"finished_at"`
	Timeline          uint32     `json:"timeline"`
	StartLSN          string     `json:"start_lsn"` // pg_lsn text
	EndLSN            string     `json:"end_lsn"`
	ServerVersion     string     `json:"server_version"`
	ObjectKey         string     `json:"object_key"`
	RawSize           int64      `json:"raw_size_bytes"`
	StoredSize        int64      `json:"stored_size_bytes"`
	StoredCRC32       string     `json:"stored_crc32"`
	StoredSHA256      string     `json:"stored_sha256"`
	CompressionFormat string     `json:"compression_format"`
	Encrypted         bool       `json:"encrypted"`
	Copies            []string   `json:"copies"`
	Error             string     `json:"error_message,omitempty"`
	DeletedAt         *time.Time `json:"deleted_at,omitempty"`
	Hostname          string     `json:"hostname"`
	PID               int        `json:"pid"`
	// The newest point-in-time restore test that started from it.
	RestoreTestedAt   *time.Time `json:"restore_tested_at"`
	RestoreTestStatus string     `json:"restore_test_status,omitempty"` // success, failed; "": never tested
}

// StartBaseBackup records a base backup that begins ('running'); a
// requested one's row (same ID) becomes it.
func (s *Store) StartBaseBackup(ctx context.Context, b BaseBackup) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO pitr_base_backups (id, system_id, label, status, triggered_by, started_at, hostname, pid)
		VALUES ($1, $2::text::numeric, $3, 'running', $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET status = 'running', label = $3, started_at = $5, hostname = $6, pid = $7
		WHERE pitr_base_backups.status = 'requested'`,
		b.ID, fmt.Sprint(b.SystemID), b.Label, b.TriggeredBy, b.StartedAt, b.Hostname, b.PID)
	return err
}

// RequestBaseBackup asks the daemon for a base backup of the cluster
// ('requested'); it returns the row's ID.
func (s *Store) RequestBaseBackup(ctx context.Context, systemID uint64, at time.Time, host string, pid int) (uuid.UUID, error) {
	id := uuid.New()
	_, err := s.pool.Exec(ctx, `INSERT INTO pitr_base_backups (id, system_id, label, status, triggered_by, started_at, hostname, pid)
		VALUES ($1, $2::text::numeric, 'requested', 'requested', 'manual', $3, $4, $5)`, id, fmt.Sprint(systemID), at, host, pid)
	return id, err
}

// FinishBaseBackup records how a base backup ended: its status and
// everything known of it.
func (s *Store) FinishBaseBackup(ctx context.Context, b BaseBackup) error {
	_, err := s.pool.Exec(ctx, `UPDATE pitr_base_backups SET status = $2, finished_at = $3, label = $4,
			timeline = nullif($5::integer, 0), start_lsn = nullif($6, '')::pg_lsn, end_lsn = nullif($7, '')::pg_lsn,
			server_version = nullif($8, ''), object_key = nullif($9, ''), raw_size_bytes = nullif($10::bigint, 0),
			stored_size_bytes = nullif($11::bigint, 0), stored_crc32 = nullif($12, ''), stored_sha256 = nullif($13, ''),
			compression_format = nullif($14, ''), encrypted = $15, copies = $16, error_message = nullif($17, '')
		WHERE id = $1`,
		b.ID, b.Status, b.FinishedAt, b.Label, int64(b.Timeline), b.StartLSN, b.EndLSN, b.ServerVersion, b.ObjectKey,
		b.RawSize, b.StoredSize, b.StoredCRC32, b.StoredSHA256, b.CompressionFormat, b.Encrypted, nonNil(b.Copies), b.Error)
	return err
}

// AbandonBaseBackups marks the cluster's base backups still 'running'
// failed: only the holder of the archive's lock takes base backups, so
// when it begins one, any other still running was interrupted.
func (s *Store) AbandonBaseBackups(ctx context.Context, systemID uint64, at time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE pitr_base_backups SET status = 'failed', finished_at = $2,
			error_message = 'interrupted: the process taking it stopped before it ended'
		WHERE system_id = $1::text::numeric AND status = 'running'`, fmt.Sprint(systemID), at)
	return tag.RowsAffected(), err
}

// BaseBackups are a cluster's base backups, oldest first.
func (s *Store) BaseBackups(ctx context.Context, systemID uint64) ([]BaseBackup, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, label, status, triggered_by, started_at, finished_at, coalesce(timeline, 0),
			coalesce(start_lsn::text, ''), coalesce(end_lsn::text, ''), coalesce(server_version, ''), coalesce(object_key, ''),
			coalesce(raw_size_bytes, 0), coalesce(stored_size_bytes, 0), coalesce(stored_crc32, ''), coalesce(stored_sha256, ''),
			coalesce(compression_format, ''), coalesce(encrypted, false), copies, coalesce(error_message, ''), hostname, pid, deleted_at,
			restore_tested_at, coalesce(restore_test_status, '')
		FROM pitr_base_backups WHERE system_id = $1::text::numeric ORDER BY started_at, id`, fmt.Sprint(systemID))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BaseBackup, error) {
		b := BaseBackup{SystemID: systemID}
		var tli int64
		err := r.Scan(&b.ID, &b.Label, &b.Status, &b.TriggeredBy, &b.StartedAt, &b.FinishedAt, &tli, &b.StartLSN, &b.EndLSN,
			&b.ServerVersion, &b.ObjectKey, &b.RawSize, &b.StoredSize, &b.StoredCRC32, &b.StoredSHA256, &b.CompressionFormat,
			&b.Encrypted, &b.Copies, &b.Error, &b.Hostname, &b.PID, &b.DeletedAt, &b.RestoreTestedAt, &b.RestoreTestStatus)
		b.Timeline = uint32(tli)
		return b, err
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PITRClusters are the clusters with a good base backup, the one with the
// newest first.
func (s *Store) PITRClusters(ctx context.Context) ([]uint64, error) {
	rows, err := s.pool.Query(ctx, `SELECT system_id::text FROM pitr_base_backups WHERE status = 'success'
		GROUP BY system_id ORDER BY max(finished_at) DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (uint64, error) {
		var text string
		if err := r.Scan(&text); err != nil {
			return 0, err
		}
		return strconv.ParseUint(text, 10, 64)
	})
}

// FindWALFiles are the cluster's recorded files of those names.
func (s *Store) FindWALFiles(ctx context.Context, systemID uint64, names ...string) ([]WALFile, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, timeline, segment_no, file_name, object_key,
			coalesce(start_lsn::text, ''), coalesce(end_lsn::text, ''), raw_size_bytes, raw_sha256, stored_size_bytes,
			stored_crc32, stored_sha256, compression_format, encrypted, copies, shipped_at, coalesce(history, '')
		FROM pitr_wal_files WHERE system_id = $1::text::numeric AND file_name = ANY($2)
		ORDER BY kind <> 'history', timeline, segment_no, kind`, fmt.Sprint(systemID), names)
	if err != nil {
		return nil, err
	}
	return collectWALFiles(rows, systemID)
}

// MarkBaseBackupDeleted records that retention removed a base backup
// from every place.
func (s *Store) MarkBaseBackupDeleted(ctx context.Context, id uuid.UUID, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE pitr_base_backups SET deleted_at = $2 WHERE id = $1`, id, at)
	return err
}

// DeleteWALFile forgets a file retention removed from every place.
func (s *Store) DeleteWALFile(ctx context.Context, f WALFile) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM pitr_wal_files WHERE system_id = $1::text::numeric AND kind = $2
		AND timeline = $3 AND segment_no = $4`, fmt.Sprint(f.SystemID), string(f.Kind), int64(f.Timeline), int64(f.SegmentNo))
	return err
}

// Stream is what a server's WAL stream is doing, as the replica that
// streams it last wrote (table pitr_streams).
type Stream struct {
	SystemID    uint64    `json:"system_id,string"`
	Slot        string    `json:"slot"`
	Server      string    `json:"server"` // HOST:PORT
	Hostname    string    `json:"hostname"`
	Receiving   bool      `json:"receiving"`
	Restarts    int       `json:"restarts"`
	SlotStatus  string    `json:"slot_wal_status"`
	SafeBytes   int64     `json:"slot_safe_bytes"`  // -1: no limit
	LimitBytes  int64     `json:"slot_limit_bytes"` // -1: none
	ShippedLSN  string    `json:"shipped_lsn"`
	ServerLSN   string    `json:"server_lsn"`   // how far the server has written
	ReceivedLSN string    `json:"received_lsn"` // how far the backup host has flushed
	SpoolFiles  int       `json:"spool_files"`
	UpdatedAt   time.Time `json:"updated_at"`
	// LastSlotLoss is when the newest base backup taken because the slot
	// was lost (or made again over an archive) started; zero: never.
	LastSlotLoss time.Time `json:"last_slot_loss,omitzero"`
}

// RecordStream writes what the stream is doing now.
func (s *Store) RecordStream(ctx context.Context, st Stream) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO pitr_streams (system_id, slot, server, hostname, receiving, restarts, slot_status,
			slot_safe_bytes, slot_limit_bytes, shipped_lsn, spool_files, updated_at, server_lsn, received_lsn)
		VALUES ($1::text::numeric, $2, $3, $4, $5, $6, $7, nullif($8::bigint, -1), nullif($9::bigint, -1), nullif($10, '')::pg_lsn, $11, $12,
			nullif($13, '')::pg_lsn, nullif($14, '')::pg_lsn)
		ON CONFLICT (system_id, slot) DO UPDATE SET server = excluded.server, hostname = excluded.hostname,
			receiving = excluded.receiving, restarts = excluded.restarts, slot_status = excluded.slot_status,
			slot_safe_bytes = excluded.slot_safe_bytes, slot_limit_bytes = excluded.slot_limit_bytes,
			shipped_lsn = excluded.shipped_lsn, spool_files = excluded.spool_files, updated_at = excluded.updated_at,
			server_lsn = excluded.server_lsn, received_lsn = excluded.received_lsn`,
		fmt.Sprint(st.SystemID), st.Slot, st.Server, st.Hostname, st.Receiving, st.Restarts, st.SlotStatus,
		st.SafeBytes, st.LimitBytes, st.ShippedLSN, st.SpoolFiles, st.UpdatedAt.UTC(), st.ServerLSN, st.ReceivedLSN)
	if err != nil {
		return fmt.Errorf("record the WAL stream's state: %w", err)
	}
	return nil
}

// Streams are the servers' WAL streams as last recorded, by system
// identifier and slot.
func (s *Store) Streams(ctx context.Context) ([]Stream, error) {
	rows, err := s.pool.Query(ctx, `SELECT system_id::text, slot, server, hostname, receiving, restarts, slot_status,
			coalesce(slot_safe_bytes, -1), coalesce(slot_limit_bytes, -1), coalesce(shipped_lsn::text, ''), spool_files, updated_at,
			coalesce(server_lsn::text, ''), coalesce(received_lsn::text, ''),
			coalesce((SELECT max(b.started_at) FROM pitr_base_backups b WHERE b.system_id = st.system_id
				AND b.triggered_by IN ('slot_lost', 'new_slot')), 'epoch')
		FROM pitr_streams st ORDER BY system_id, slot`)
	if err != nil {
		return nil, fmt.Errorf("read the WAL streams: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stream, error) {
		var st Stream
		var id string
		err := r.Scan(&id, &st.Slot, &st.Server, &st.Hostname, &st.Receiving, &st.Restarts, &st.SlotStatus,
			&st.SafeBytes, &st.LimitBytes, &st.ShippedLSN, &st.SpoolFiles, &st.UpdatedAt, &st.ServerLSN, &st.ReceivedLSN, &st.LastSlotLoss)
		if err != nil {
			return st, err
		}
		if st.LastSlotLoss.Unix() == 0 {
			st.LastSlotLoss = time.Time{}
		}
		st.SystemID, err = strconv.ParseUint(id, 10, 64)
		return st, err
	})
}
