-- How a restore test fed pg_restore: parallel from a decompressed temporary
-- file, or streamed into a single job when there was no room (issue 5).
ALTER TABLE backup_restore_tests ADD COLUMN restore_mode TEXT;
