-- The web console's sessions (issue 17): a login exchanges an API token
-- (a static token or a platform JWT) for one. The cookie is a random
-- secret; only its SHA-256 is kept. Logout, or expiry, ends it everywhere
-- (every replica reads this table).
CREATE TABLE console_sessions (
    token_sha256 BYTEA PRIMARY KEY,
    subject      TEXT NOT NULL,
    role         TEXT NOT NULL,
    csrf         TEXT NOT NULL,      -- the token every form posts back
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    ended_at     TIMESTAMP
);
