-- The copies of each backup in its destinations (issue 15): one row per
-- backup and destination, the last outcome of copying it there. A copy
-- counts once verified_at is set; last_error says why the last attempt
-- failed. archive_s3_path keeps its meaning for the S3 copy.
CREATE TABLE backup_copies (
    backup_id    UUID NOT NULL,
    destination  TEXT NOT NULL,          -- the destination's URL, no secret
    location     TEXT NOT NULL,          -- where the dump is there
    size_bytes   BIGINT,
    verified_at  TIMESTAMPTZ,
    deleted_at   TIMESTAMPTZ,
    last_error   TEXT,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (backup_id, destination)
);
