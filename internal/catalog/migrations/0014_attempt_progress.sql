-- A running attempt's progress (issue 17): what the console shows live,
-- from any replica. Written every few seconds while pg_dump streams.
ALTER TABLE backup_attempts ADD COLUMN raw_bytes BIGINT;
ALTER TABLE backup_attempts ADD COLUMN stored_bytes BIGINT;
ALTER TABLE backup_attempts ADD COLUMN progress_at TIMESTAMP;
