-- The checksum each copy was verified against (issue 15): the backup
-- file's CRC32 as the copy holds it, so that a copy's record says what it
-- must be without the backup's row.
ALTER TABLE backup_copies ADD COLUMN checksum_crc32 TEXT;
