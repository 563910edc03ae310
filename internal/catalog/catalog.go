// Package catalog keeps the history of backups in PostgreSQL: the specification's
// backup_executions table (plus our columns) and the restore tests, with
// their migrations. Rows are facts about what happened; they are inserted
// whole once a backup attempt has ended.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/toc"
)

// The values of the catalog's constrained columns, defined once; the
// CHECKs in the migrations list the same (docs/REQUIREMENTS.md).

// Status is a backup's outcome (backup_executions.status).
type Status string

const (
	StatusSuccess Status = "success"
	StatusFailed  Status = "failed"
	StatusPartial Status = "partial" // a good local backup whose offsite copy is missing
)

// Good says whether a backup with this status has a valid file (success
// or partial): only such a row owns a file.
func (s Status) Good() bool { return s == StatusSuccess || s == StatusPartial }

// Trigger says who started a backup or a restore test (triggered_by).
type Trigger string

const (
	TriggerScheduled Trigger = "scheduled"
	TriggerCatchUp   Trigger = "catch_up" // backups only
	TriggerManual    Trigger = "manual"
	TriggerAPI       Trigger = "api"
)

// RetentionClass is how long a backup is kept (retention_class): a daily
// copy, or its month's compliance copy (ARCEP, 7 years).
type RetentionClass string

const (
	ClassDaily      RetentionClass = "daily"
	ClassCompliance RetentionClass = "compliance"
)

// TestStatus is a restore test's state (backup_restore_tests.status), and
// a backup's restore_test_status (which has not_tested instead of running).
type TestStatus string

const (
	TestRunning   TestStatus = "running"
	TestSuccess   TestStatus = "success"
	TestFailed    TestStatus = "failed"
	TestNotTested TestStatus = "not_tested"
)

// TypePgDump is the backup_type of our rows.
const TypePgDump = "pg_dump"

// Execution is one row of backup_executions. JSON keys are the column names:
// the CLI's --json, the API and the manifest sidecar all print this.
type Execution struct {
	ID                string     `json:"id"`
	BackupType        string     `json:"backup_type"`
	BackupDate        time.Time  `json:"backup_date"`
	Filename          string     `json:"filename"`
	FilePath          *string    `json:"file_path"`
	FileSizeBytes     *int64     `json:"file_size_bytes"`
	ChecksumCRC32     *string    `json:"checksum_crc32"`
	Status            Status     `json:"status"`
	DurationSeconds   *int       `json:"duration_seconds"`
	ErrorMessage      *string    `json:"error_message"`
	ArchiveS3Path     *string    `json:"archive_s3_path"`
	CreatedAt         time.Time  `json:"created_at"`
	RetentionUntil    *Date      `json:"retention_until"`
	RestoreTestedAt   *time.Time `json:"restore_tested_at"`
	RestoreTestStatus TestStatus `json:"restore_test_status"`

	ChecksumSHA256            *string          `json:"checksum_sha256"`
	CompressionFormat         *archive.Format  `json:"compression_format"`
	CompressionLevel          *int             `json:"compression_level"`
	UncompressedSizeBytes     *int64           `json:"uncompressed_size_bytes"`
	UncompressedChecksumCRC32 *string          `json:"uncompressed_checksum_crc32"`
	DatabaseName              *string          `json:"database_name"`
	ServerVersion             *string          `json:"server_version"`
	PgDumpVersion             *string          `json:"pg_dump_version"`
	ObjectCounts              toc.Counts       `json:"object_counts"`
	RowCounts                 map[string]int64 `json:"row_counts"`
	GlobalsFilename           *string          `json:"globals_filename"`
	Warnings                  []string         `json:"warnings"`
	Suspect                   bool             `json:"suspect"`
	SuspectReasons            []string         `json:"suspect_reasons"`
	TriggeredBy               Trigger          `json:"triggered_by"`
	Hostname                  *string          `json:"hostname"`
	Attempt                   int              `json:"attempt"`
	RunID                     *string          `json:"run_id"`
	FinishedAt                *time.Time       `json:"finished_at"`

	RetentionClass   RetentionClass `json:"retention_class"`
	DeletedAt        *time.Time     `json:"deleted_at"`
	S3DeletedAt      *time.Time     `json:"s3_deleted_at"`
	S3RetentionUntil *Date          `json:"s3_retention_until"`

	// Encrypted files are age-encrypted to EncryptionRecipients (public
	// keys); their checksums are those of the stored ciphertext.
	Encrypted            bool     `json:"encrypted"`
	EncryptionRecipients []string `json:"encryption_recipients"`
	// TargetName is the server (issue 16): DefaultTarget for the
	// environment's settings and for every row from before targets.
	TargetName string `json:"target_name"`
	// RgzVersion is the build that took the backup: "VERSION (commit
	// COMMIT)" (package version); nil for rows from before.
	RgzVersion *string `json:"rgz_version"`
	// RetryAt is when the next attempt of a failed attempt's run is due;
	// nil: none follows (the run ended with this row). See Retrying.
	RetryAt *time.Time `json:"retry_at"`
}

// RetryGrace is how long past its due time a retry may still come (a busy
// queue) before its run counts as failed: a retry overdue by more has no
// daemon to run it.
const RetryGrace = 30 * time.Minute

// Retrying says whether e is a failed attempt whose run goes on: a retry
// is due, and not overdue at now. Such a row is no failed run (the alerts,
// the wall screen): the retry may well succeed.
func (e Execution) Retrying(now time.Time) bool {
	return e.Status == StatusFailed && e.RetryAt != nil && !now.After(e.RetryAt.Add(RetryGrace))
}

// RunFailed says whether e, a run's newest row, is a run that failed: it
// failed, and no retry of it is on its way.
func (e Execution) RunFailed(now time.Time) bool {
	return e.Status == StatusFailed && !e.Retrying(now)
}

// DefaultTarget is the target of the environment's connection settings.
const DefaultTarget = "default"

// columns lists the table's columns in Execution's field order.
var columns = []string{
	"id", "backup_type", "backup_date", "filename", "file_path", "file_size_bytes", "checksum_crc32",
	"status", "duration_seconds", "error_message", "archive_s3_path", "created_at", "retention_until",
	"restore_tested_at", "restore_test_status",
	"checksum_sha256", "compression_format", "compression_level", "uncompressed_size_bytes",
	"uncompressed_checksum_crc32", "database_name", "server_version", "pg_dump_version", "object_counts",
	"row_counts", "globals_filename", "warnings", "suspect", "suspect_reasons", "triggered_by", "hostname",
	"attempt", "run_id", "finished_at",
	"retention_class", "deleted_at", "s3_deleted_at", "s3_retention_until",
	"encrypted", "encryption_recipients", "target_name", "rgz_version", "retry_at",
}

func (e *Execution) fields() []any {
	if e.TargetName == "" { // a row or a manifest from before targets
		e.TargetName = DefaultTarget
	}
	return []any{
		&e.ID, &e.BackupType, &e.BackupDate, &e.Filename, &e.FilePath, &e.FileSizeBytes, &e.ChecksumCRC32,
		&e.Status, &e.DurationSeconds, &e.ErrorMessage, &e.ArchiveS3Path, &e.CreatedAt, &e.RetentionUntil,
		&e.RestoreTestedAt, &e.RestoreTestStatus,
		&e.ChecksumSHA256, &e.CompressionFormat, &e.CompressionLevel, &e.UncompressedSizeBytes,
		&e.UncompressedChecksumCRC32, &e.DatabaseName, &e.ServerVersion, &e.PgDumpVersion, &e.ObjectCounts,
		&e.RowCounts, &e.GlobalsFilename, &e.Warnings, &e.Suspect, &e.SuspectReasons, &e.TriggeredBy, &e.Hostname,
		&e.Attempt, &e.RunID, &e.FinishedAt,
		&e.RetentionClass, &e.DeletedAt, &e.S3DeletedAt, &e.S3RetentionUntil,
		&e.Encrypted, &e.EncryptionRecipients, &e.TargetName, &e.RgzVersion, &e.RetryAt,
	}
}

// Date is a calendar day (retention_until); JSON "2006-01-02".
type Date struct{ time.Time }

func (d Date) MarshalJSON() ([]byte, error) { return []byte(`"` + d.Format(time.DateOnly) + `"`), nil }

func (d *Date) UnmarshalJSON(b []byte) error {
	t, err := time.Parse(`"`+time.DateOnly+`"`, string(b))
	d.Time = t
	return err
}

// ScanDate and DateValue let pgx read and write a Date as a DATE.
func (d *Date) ScanDate(v pgtype.Date) error { d.Time = v.Time; return nil }
func (d *Date) DateValue() (pgtype.Date, error) {
	if d == nil {
		return pgtype.Date{}, nil // NULL
	}
	return pgtype.Date{Time: d.Time, Valid: true}, nil
}

// ErrNotFound is returned when no row matches.
var ErrNotFound = errors.New("no such backup in the catalog")

// Store is the catalog database.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the catalog database.
func Open(ctx context.Context, db config.Database) (*Store, error) {
	pool, err := OpenPool(ctx, db, "rgz-backup catalog", 4)
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// OpenPool connects a pool of at most maxConns connections to the catalog
// database, where the daemon's job engine keeps its tables too.
func OpenPool(ctx context.Context, db config.Database, appName string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return nil, fmt.Errorf("catalog address: %w", err)
	}
	cfg.ConnConfig.Password = db.Password
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to catalog: %w", dbconn.Explain(db, err))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to catalog: %w", dbconn.Explain(db, err))
	}
	return pool, nil
}

// NewStore uses a pool opened with OpenPool; closing the store closes it.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Insert records one execution and ends its attempt (BeginAttempt), in one
// transaction. A zero CreatedAt becomes now: the column's default does not
// apply when the value is given.
func (s *Store) Insert(ctx context.Context, e *Execution) error {
	e.defaults()
	// pgx dereferences the field pointers; a nil pointer is NULL.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertSQL, e.fields()...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM backup_attempts WHERE id = $1`, e.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record backup %s in the catalog: %w", e.Filename, err)
	}
	return nil
}

// defaults fills what a row needs and the caller may have left zero.
func (e *Execution) defaults() {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	if e.RowCounts == nil {
		e.RowCounts = map[string]int64{}
	}
	if e.Warnings == nil {
		e.Warnings = []string{}
	}
	if e.SuspectReasons == nil {
		e.SuspectReasons = []string{}
	}
	if e.EncryptionRecipients == nil {
		e.EncryptionRecipients = []string{} // NOT NULL
	}
	if e.RetentionClass == "" {
		e.RetentionClass = ClassDaily
	}
	if e.RestoreTestStatus == "" {
		e.RestoreTestStatus = TestNotTested
	}
}

// Filter selects rows for List.
type Filter struct {
	Since  time.Time // backup_date at or after; zero: all
	Status Status    // empty: any
	Limit  int       // 0: no limit
	// OnDisk: only good backups whose local files retention has not
	// deleted (a few dozen rows, however long the history).
	OnDisk bool
	// Live: only good backups with a copy left, local or in S3: what
	// retention works on.
	Live bool
	// Database: only this database's backups (database_name); empty: all.
	Database string
	// Target: only this server's backups (target_name); empty: all.
	Target string
}

// List returns pg_dump rows, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Execution, error) {
	q := "SELECT " + strings.Join(columns, ", ") + " FROM backup_executions WHERE backup_type = 'pg_dump' AND backup_date >= $1 AND ($2 = '' OR status = $2)" +
		" AND ($3 = '' OR database_name = $3) AND ($4 = '' OR target_name = $4)"
	if f.OnDisk {
		q += " AND status IN ('success', 'partial') AND deleted_at IS NULL"
	}
	if f.Live {
		q += " AND status IN ('success', 'partial') AND (deleted_at IS NULL OR (archive_s3_path IS NOT NULL AND s3_deleted_at IS NULL))"
	}
	q += " ORDER BY backup_date DESC, created_at DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return s.query(ctx, q, f.Since, f.Status, f.Database, f.Target)
}

// NewestOfEach returns each database's newest row (of status, when not
// empty), by target then database.
func (s *Store) NewestOfEach(ctx context.Context, status Status) ([]Execution, error) {
	return s.query(ctx, "SELECT DISTINCT ON (target_name, database_name) "+strings.Join(columns, ", ")+
		" FROM backup_executions WHERE backup_type = 'pg_dump' AND database_name IS NOT NULL AND ($1 = '' OR status = $1)"+
		" ORDER BY target_name, database_name, backup_date DESC, created_at DESC", status)
}

// DatabaseState is one database's newest row and newest success (nil:
// none), with several databases.
type DatabaseState struct {
	Target      string     `json:"target"`
	Database    string     `json:"database"`
	LastRun     Execution  `json:"last_run"`
	LastSuccess *Execution `json:"last_success"`
}

// DatabaseStates are each database's newest row and newest success, by
// target then database: what status, the metrics and the alerts show.
func (s *Store) DatabaseStates(ctx context.Context) ([]DatabaseState, error) {
	last, err := s.NewestOfEach(ctx, "")
	if err != nil {
		return nil, err
	}
	good, err := s.NewestOfEach(ctx, StatusSuccess)
	if err != nil {
		return nil, err
	}
	success := map[[2]string]*Execution{}
	for i := range good {
		success[[2]string{good[i].TargetName, *good[i].DatabaseName}] = &good[i]
	}
	out := make([]DatabaseState, len(last))
	for i, l := range last {
		key := [2]string{l.TargetName, *l.DatabaseName}
		out[i] = DatabaseState{Target: key[0], Database: key[1], LastRun: l, LastSuccess: success[key]}
	}
	return out, nil
}

// Get returns the row with this id.
func (s *Store) Get(ctx context.Context, id string) (Execution, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return Execution{}, ErrNotFound // not an id: no row has it
	}
	return s.one(ctx, "id = $1", u)
}

// ByFilename returns the owner of a backup file name: its success or
// partial row. Only when no good row names the file (every attempt that
// used the name failed) is the newest failed attempt returned, so that a
// lookup says "this attempt failed" rather than "no such backup". A failed
// attempt never hides the backup that owns the file.
func (s *Store) ByFilename(ctx context.Context, filename string) (Execution, error) {
	return s.one(ctx, "filename = $1", filename)
}

// Owners first, then the newest: for an id there is one row anyway.
const ownerFirst = " ORDER BY (status IN ('success', 'partial')) DESC, created_at DESC LIMIT 1"

func (s *Store) one(ctx context.Context, where string, arg any) (Execution, error) {
	rows, err := s.query(ctx, "SELECT "+strings.Join(columns, ", ")+" FROM backup_executions WHERE backup_type = 'pg_dump' AND "+where+ownerFirst, arg)
	if err != nil {
		return Execution{}, err
	}
	if len(rows) == 0 {
		return Execution{}, ErrNotFound
	}
	return rows[0], nil
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]Execution, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Execution, error) {
		var e Execution
		err := r.Scan(e.fields()...)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return out, nil
}
