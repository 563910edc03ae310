-- Which server a backup is of (issue 16): the target's name from the
-- targets file, "default" for the server of the environment's settings and
-- for every row from before targets existed. The database is database_name.
ALTER TABLE backup_executions ADD COLUMN target_name TEXT NOT NULL DEFAULT 'default';
