-- Issue 25: the server a restore test made its scratch database on
-- (HOST:PORT), so that a sweep on one restore-test server judges only the
-- tests that ran there.
ALTER TABLE backup_restore_tests ADD COLUMN scratch_server TEXT;
