-- Pages of one server's or one database's backups (issue 16): the API's
-- ?target=&database= filters (the seed's routes read the default target)
-- and `list --database`, keyset-paged like idx_backup_page.
CREATE INDEX idx_backup_target_page ON backup_executions (backup_type, target_name, backup_date DESC, (id::text) DESC);
CREATE INDEX idx_backup_database_page ON backup_executions (backup_type, database_name, backup_date DESC, (id::text) DESC);
