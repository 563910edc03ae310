-- Each database's newest backups (issue 16): status per database, the API's
-- ?target=&database= filters and their keyset pages.
CREATE INDEX idx_backup_target_database ON backup_executions (backup_type, target_name, database_name, backup_date DESC);
