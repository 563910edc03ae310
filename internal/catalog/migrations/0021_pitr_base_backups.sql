-- Issue 28: point-in-time recovery's base backups. A row is written when a
-- base backup starts ('running'), and says at the end what happened: a
-- 'success' every place of the archive holds, verified, or a 'failed' with
-- its reason; a process killed meanwhile leaves 'running', which the next
-- base backup of the cluster marks failed. 'requested' is one asked of the
-- daemon (rgz-backup pitr base-backup --enqueue), which takes it under
-- that row. A restore starts from a success
-- whose WAL, from start_lsn on, the archive holds.
CREATE TABLE pitr_base_backups (
    id UUID PRIMARY KEY,
    system_id NUMERIC(20, 0) NOT NULL,
    label TEXT NOT NULL,                -- its name in the archive: 20261206T010000Z-<start segment>
    status TEXT NOT NULL CHECK (status IN ('requested', 'running', 'success', 'failed')),
    triggered_by TEXT NOT NULL,         -- scheduled, first, manual
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    timeline INTEGER,                   -- where its WAL ends
    start_lsn PG_LSN,                   -- replay starts here (the checkpoint's redo)
    end_lsn PG_LSN,                     -- consistent once replay passes here
    server_version TEXT,
    object_key TEXT,
    raw_size_bytes BIGINT,              -- the tar
    stored_size_bytes BIGINT,
    stored_crc32 TEXT,
    stored_sha256 TEXT,
    compression_format TEXT,
    encrypted BOOLEAN,
    copies TEXT[] NOT NULL DEFAULT '{}',
    error_message TEXT,
    deleted_at TIMESTAMPTZ,             -- retention removed it from every place
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE INDEX pitr_base_backups_cluster ON pitr_base_backups (system_id, started_at);
