-- Console sessions that never outlive what opened them (issue 30): a
-- public id to list and revoke them by (the primary key is the cookie's
-- digest, never shown), and the static token that opened one (its
-- SHA-256; NULL for a JWT or a single sign-on), so that a session ends
-- when its token leaves the list.
ALTER TABLE console_sessions
    ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    ADD COLUMN token_digest BYTEA,
    ADD COLUMN client TEXT;

CREATE INDEX console_sessions_live ON console_sessions (subject) WHERE ended_at IS NULL;
