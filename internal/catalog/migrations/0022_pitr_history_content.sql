-- Issue 28: a timeline history file's text (a few lines: each ancestor
-- timeline and where it ended), so that the window follows timelines from
-- the catalog alone, without fetching (and decrypting) the files.
ALTER TABLE pitr_wal_files ADD COLUMN history TEXT;
