-- The seed's table, column for column, plus what rgz-backup records beside
-- (checksums of both streams, versions, object and row counts, who started
-- it). Timestamps are TIMESTAMP as in the seed and always hold UTC.
CREATE TABLE backup_executions (
    id                   UUID PRIMARY KEY,
    backup_type          TEXT NOT NULL CHECK (backup_type IN ('pg_dump', 'config_git', 'apdp')),
    backup_date          TIMESTAMP NOT NULL,
    filename             TEXT NOT NULL,
    file_path            TEXT,
    file_size_bytes      BIGINT,
    checksum_crc32       TEXT,
    status               TEXT NOT NULL CHECK (status IN ('success', 'failed', 'partial')),
    duration_seconds     INT,
    error_message        TEXT,
    archive_s3_path      TEXT,
    created_at           TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    retention_until      DATE,
    restore_tested_at    TIMESTAMP,
    restore_test_status  TEXT NOT NULL DEFAULT 'not_tested' CHECK (restore_test_status IN ('success', 'failed', 'not_tested')),

    checksum_sha256              TEXT,
    compression_format           TEXT CHECK (compression_format IN ('gzip', 'zstd', 'bzip2', 'none')),
    compression_level            INT,
    uncompressed_size_bytes      BIGINT,
    uncompressed_checksum_crc32  TEXT,
    database_name                TEXT,
    server_version               TEXT,
    pg_dump_version              TEXT,
    object_counts                JSONB NOT NULL DEFAULT '{}',
    row_counts                   JSONB NOT NULL DEFAULT '{}',
    globals_filename             TEXT,
    warnings                     TEXT[] NOT NULL DEFAULT '{}',
    suspect                      BOOLEAN NOT NULL DEFAULT false,
    suspect_reasons              TEXT[] NOT NULL DEFAULT '{}',
    triggered_by                 TEXT NOT NULL DEFAULT 'manual' CHECK (triggered_by IN ('scheduled', 'catch_up', 'manual', 'api')),
    hostname                     TEXT,
    attempt                      INT NOT NULL DEFAULT 1,
    run_id                       UUID,
    finished_at                  TIMESTAMP
);

CREATE INDEX idx_backup_created ON backup_executions(created_at DESC);
CREATE INDEX idx_backup_type_date ON backup_executions(backup_type, backup_date DESC);

-- Filled by the restore tests; created now so the schema has one history.
CREATE TABLE backup_restore_tests (
    id                UUID PRIMARY KEY,
    backup_id         UUID NOT NULL REFERENCES backup_executions(id),
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP,
    duration_seconds  INT,
    status            TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    error_message     TEXT,
    mismatches        JSONB NOT NULL DEFAULT '[]',
    triggered_by      TEXT NOT NULL CHECK (triggered_by IN ('scheduled', 'manual', 'api')),
    scratch_database  TEXT,
    hostname          TEXT
);

CREATE INDEX idx_restore_tests_started ON backup_restore_tests(started_at DESC);
CREATE INDEX idx_restore_tests_backup ON backup_restore_tests(backup_id);
