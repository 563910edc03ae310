-- A MOSAÏQUE-like database: resellers, subscribers, RADIUS sessions,
-- invoices and incidents, with what a real schema carries (two schemas, a
-- quoted non-ASCII table name, sequences, triggers, functions, a view, a
-- materialized view, jsonb and a large object). Used by the demo, the tests
-- and the benchmarks; data is added by sample.Load at a chosen scale.
CREATE SCHEMA billing;

CREATE TABLE resellers (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    zone        text NOT NULL,
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscribers (
    id           bigserial PRIMARY KEY,
    reseller_id  integer NOT NULL REFERENCES resellers(id),
    msisdn       text NOT NULL UNIQUE,
    full_name    text NOT NULL,
    plan         text NOT NULL CHECK (plan IN ('day', 'week', 'month')),
    active       boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscribers_reseller_idx ON subscribers(reseller_id);

CREATE TABLE radius_sessions (
    id              bigserial PRIMARY KEY,
    subscriber_id   bigint NOT NULL REFERENCES subscribers(id),
    nas_ip          inet NOT NULL,
    started_at      timestamptz NOT NULL,
    stopped_at      timestamptz,
    bytes_in        bigint NOT NULL DEFAULT 0,
    bytes_out       bigint NOT NULL DEFAULT 0,
    attributes      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX radius_sessions_subscriber_idx ON radius_sessions(subscriber_id, started_at);

CREATE SEQUENCE billing.invoice_number_seq START 1000;

CREATE TABLE billing.invoices (
    id           bigserial PRIMARY KEY,
    number       bigint NOT NULL DEFAULT nextval('billing.invoice_number_seq') UNIQUE,
    reseller_id  integer NOT NULL REFERENCES resellers(id),
    amount_xof   numeric(12, 2) NOT NULL,
    issued_on    date NOT NULL,
    paid         boolean NOT NULL DEFAULT false,
    lines        jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX invoices_reseller_issued_idx ON billing.invoices(reseller_id, issued_on);

CREATE TABLE incidents (
    id          serial PRIMARY KEY,
    reseller_id integer REFERENCES resellers(id),
    severity    smallint NOT NULL,
    summary     text NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE "Réclamations clients" (
    id            serial PRIMARY KEY,
    subscriber_id bigint REFERENCES subscribers(id),
    "Motif"       text NOT NULL,
    reçue_le      date NOT NULL
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    table_name  text NOT NULL,
    row_id      bigint NOT NULL,
    action      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log(table_name, row_id, action) VALUES (TG_TABLE_NAME, NEW.id, TG_OP);
    RETURN NEW;
END $$;

CREATE FUNCTION billing.reseller_balance(reseller integer) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(amount_xof) FILTER (WHERE NOT paid), 0) FROM billing.invoices WHERE reseller_id = reseller
$$;

CREATE TRIGGER subscribers_touch BEFORE UPDATE ON subscribers
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER invoices_audit AFTER INSERT OR UPDATE ON billing.invoices
    FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TRIGGER incidents_audit AFTER INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION audit();

CREATE VIEW active_subscribers AS
    SELECT s.id, s.msisdn, s.full_name, r.name AS reseller
    FROM subscribers s JOIN resellers r ON r.id = s.reseller_id
    WHERE s.active;

CREATE MATERIALIZED VIEW billing.monthly_revenue AS
    SELECT reseller_id, date_trunc('month', issued_on)::date AS month, sum(amount_xof) AS revenue
    FROM billing.invoices GROUP BY 1, 2;
