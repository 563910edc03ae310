-- Issue 28: what each server's WAL stream is doing, written every few
-- seconds by the replica that streams it, so that every replica's
-- metrics (and the alerts on them) see it: whether pg_receivewal runs,
-- how close the slot is to being lost, how far the archive is shipped.
CREATE TABLE pitr_streams (
    system_id NUMERIC(20, 0) NOT NULL,
    slot TEXT NOT NULL,
    server TEXT NOT NULL,               -- HOST:PORT, never a user or a password
    hostname TEXT NOT NULL,             -- the replica that streams
    receiving BOOLEAN NOT NULL,         -- pg_receivewal runs
    restarts INTEGER NOT NULL,          -- times it was started again
    slot_status TEXT NOT NULL,          -- wal_status: reserved, extended, unreserved
    slot_safe_bytes BIGINT,             -- WAL the server may write before it drops the slot; NULL: no limit
    slot_limit_bytes BIGINT,            -- max_slot_wal_keep_size; NULL: none
    shipped_lsn PG_LSN,                 -- the end of the newest file every place holds
    spool_files INTEGER NOT NULL,       -- files waiting in the spool
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (system_id, slot)
);
