-- Issue 25: the audit keeps who was refused too (failed logins, CSRF
-- refusals, API 401s), from which address; every field is bounded (the
-- code truncates; the constraint refuses what it would have missed, so an
-- action whose row cannot be written is refused, never done unaudited);
-- the console reads it by pages, newest first.
ALTER TABLE api_audit ADD COLUMN client TEXT;
ALTER TABLE api_audit ADD CONSTRAINT api_audit_bounded CHECK (
    length(subject) <= 200 AND length(role) <= 40 AND length(method) <= 20 AND length(path) <= 600
    AND length(coalesce(detail, '')) <= 600 AND length(coalesce(client, '')) <= 80) NOT VALID;
CREATE INDEX idx_api_audit_page ON api_audit(at DESC, id DESC);
