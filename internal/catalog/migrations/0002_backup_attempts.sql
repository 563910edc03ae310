-- The attempts in progress. An attempt adds its row once it holds the backup
-- lock and removes it in the transaction that records its outcome in
-- backup_executions, so a row here whose lock is free names an attempt whose
-- process died (SIGKILL, crash, lost host): the next holder of the lock
-- records it as failed. backup_executions keeps the seed's statuses
-- (success, failed, partial); "running" lives here instead.
CREATE TABLE backup_attempts (
    id          UUID PRIMARY KEY,   -- the backup_executions id the attempt will record
    started_at  TIMESTAMP NOT NULL,
    hostname    TEXT,
    pid         INT,
    job_id      BIGINT,             -- the daemon's River job, if a job runs it
    execution   JSONB NOT NULL      -- the row as it stood when the attempt began
);
