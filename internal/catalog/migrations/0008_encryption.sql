-- Encryption at rest (issue 14): whether a backup's files are age-encrypted,
-- and to which public keys, so that an operator can find the backups an
-- old key still guards before destroying it. Rows from before are plaintext.
ALTER TABLE backup_executions
    ADD COLUMN encrypted             BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN encryption_recipients TEXT[]  NOT NULL DEFAULT '{}';
