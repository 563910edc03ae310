-- Retention (issue 4). Rows are never deleted: deleting a backup removes its
-- files and says so here, so the history stays.
--   retention_class  daily (kept BACKUP_LOCAL_RETENTION_DAYS) or compliance
--                    (the first good backup of its calendar month, UTC: kept
--                    BACKUP_CRITICAL_RETENTION_DAYS, 7 years, for ARCEP)
--   deleted_at       when retention removed the local files
--   s3_deleted_at    when retention removed the S3 objects
--   s3_retention_until  the last day the S3 copy is kept (and, with Object
--                    Lock, the day its lock ends)
ALTER TABLE backup_executions
    ADD COLUMN retention_class TEXT NOT NULL DEFAULT 'daily' CHECK (retention_class IN ('daily', 'compliance')),
    ADD COLUMN deleted_at TIMESTAMP,
    ADD COLUMN s3_deleted_at TIMESTAMP,
    ADD COLUMN s3_retention_until DATE;
