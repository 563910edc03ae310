-- Issue 29: the point-in-time recovery restore test. Each row is one
-- test: the moment it restored to and why that one (kind), where recovery
-- stopped, what it checked and how long it took. 'requested' is one asked
-- of the daemon (the API, the console) that a replica
-- takes under that row; a process killed meanwhile leaves 'running',
-- which the next test marks failed. The tested base backup's row says
-- when it was last tested and how that went, as a dump's does.
CREATE TABLE pitr_restore_tests (
    id UUID PRIMARY KEY,
    system_id NUMERIC(20, 0),           -- NULL while requested: the daemon picks the cluster
    kind TEXT NOT NULL CHECK (kind IN ('random', 'oldest', 'chosen')),
    status TEXT NOT NULL CHECK (status IN ('requested', 'running', 'success', 'failed')),
    triggered_by TEXT NOT NULL CHECK (triggered_by IN ('scheduled', 'manual', 'api')),
    target_time TIMESTAMPTZ,            -- the moment restored to
    base_backup_id UUID,
    base_backup_label TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    reached_time TIMESTAMPTZ,           -- the last transaction replayed
    reached_lsn PG_LSN,
    timeline INTEGER,                   -- where recovery stopped
    fetch_seconds DOUBLE PRECISION,     -- the base backup, fetched and unpacked
    replay_seconds DOUBLE PRECISION,    -- the WAL, fetched and replayed to the target
    replay_bytes BIGINT,                -- WAL replayed: from the base backup's start to where recovery stopped
    rto_seconds DOUBLE PRECISION,       -- from the start to a promoted, usable cluster
    heartbeat_before TIMESTAMPTZ,       -- the source's last heartbeat before the target: found in the copy
    heartbeat_after TIMESTAMPTZ,        -- its first after the target: absent from the copy
    indexes_checked INTEGER,
    problems TEXT[] NOT NULL DEFAULT '{}',
    error_message TEXT,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE INDEX pitr_restore_tests_started ON pitr_restore_tests (started_at);
ALTER TABLE pitr_base_backups ADD COLUMN restore_tested_at TIMESTAMPTZ,
    ADD COLUMN restore_test_status TEXT CHECK (restore_test_status IN ('success', 'failed'));

-- The daily check of each archive: gaps in the catalog's WAL from the
-- oldest kept base backup on, and a sample of files read back from every
-- place against their SHA-256. 'failed': a gap not told already (a lost
-- slot's is), or a file missing or different in a place.
CREATE TABLE pitr_archive_checks (
    id UUID PRIMARY KEY,
    system_id NUMERIC(20, 0) NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('success', 'failed')),
    gaps TEXT[] NOT NULL DEFAULT '{}',
    problems TEXT[] NOT NULL DEFAULT '{}',
    files_sampled INTEGER NOT NULL,
    places INTEGER NOT NULL,
    hostname TEXT NOT NULL
);
CREATE INDEX pitr_archive_checks_cluster ON pitr_archive_checks (system_id, checked_at);

-- How far behind the stream is: the server's WAL position and how far the
-- backup host has flushed it, as the replica that streams last read them.
ALTER TABLE pitr_streams ADD COLUMN server_lsn PG_LSN, ADD COLUMN received_lsn PG_LSN;
