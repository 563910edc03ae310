-- Issue 28: point-in-time recovery. Every file of a cluster's WAL archive
-- (a finished segment, the partial copy of the one being written, a
-- timeline history file), once every place of the archive holds a
-- verified copy of it. A cluster is its system identifier (initdb's, a
-- 64-bit unsigned number): a rebuilt server never mixes with the old one.
CREATE TABLE pitr_wal_files (
    system_id NUMERIC(20, 0) NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('segment', 'partial', 'history')),
    timeline INTEGER NOT NULL CHECK (timeline > 0),
    segment_no BIGINT NOT NULL CHECK (segment_no >= 0), -- 0 for a history file
    file_name TEXT NOT NULL,
    object_key TEXT NOT NULL,
    start_lsn PG_LSN,  -- a segment's WAL (NULL for a history file)
    end_lsn PG_LSN,    -- a partial copy's: what was flushed when it was read
    raw_size_bytes BIGINT NOT NULL,
    raw_sha256 TEXT NOT NULL,
    stored_size_bytes BIGINT NOT NULL,
    stored_crc32 TEXT NOT NULL,
    stored_sha256 TEXT NOT NULL,
    compression_format TEXT NOT NULL,
    encrypted BOOLEAN NOT NULL,
    copies TEXT[] NOT NULL,
    shipped_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (system_id, kind, timeline, segment_no)
);
