-- A backup file belongs to exactly one good row (issue 12): at most one
-- success or partial row per file name. A failed attempt owns no file, so
-- its row is left out of the rule (and out of every lookup that looks for
-- a file's owner). Names are also looked up often (verify, restore, the
-- API): index them.
CREATE UNIQUE INDEX idx_backup_file_owner ON backup_executions (backup_type, filename)
    WHERE status IN ('success', 'partial');
CREATE INDEX idx_backup_filename ON backup_executions (filename);
