-- Issue 26: the running daemons say what they schedule, so that
-- `rgz-backup status` shows the daemon's schedule and next run, not the
-- caller's environment. Each daemon refreshes its row every few seconds
-- (seen_at, by the catalog's clock) and deletes it when it stops; a row
-- not refreshed names a daemon that died.
CREATE TABLE backup_daemons (
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    version TEXT NOT NULL,
    plan JSONB NOT NULL,
    PRIMARY KEY (host, pid, started_at)
);
