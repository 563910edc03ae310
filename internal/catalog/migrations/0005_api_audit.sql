-- Every POST to the HTTP API (issue 6): who, what, when, and the result.
CREATE TABLE api_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    subject     TEXT NOT NULL,   -- the JWT's sub, or token:ROLE#N
    role        TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INT NOT NULL,    -- the HTTP status answered
    detail      TEXT             -- what was asked and done (job, test id, error code)
);
CREATE INDEX idx_api_audit_at ON api_audit(at DESC);
