-- Which build of rgz-backup took a backup (issue 18): its version and
-- commit, as `rgz-backup --version` says them. Rows from before: NULL.
ALTER TABLE backup_executions ADD COLUMN rgz_version TEXT;
