-- The API's pages walk backups newest first by (backup_date, id::text)
-- (issue 12): an index in that order lets a page read its rows and stop,
-- whatever the length of the history, instead of sorting all of it.
CREATE INDEX idx_backup_page ON backup_executions (backup_type, backup_date DESC, (id::text) DESC);
