-- Issue 26: a failed attempt that will be retried says when
-- (retry_at); a failed row without it ended its run. The alerts fire on a
-- run that failed after its retries, not on an attempt a retry may heal.
ALTER TABLE backup_executions ADD COLUMN retry_at TIMESTAMP;
