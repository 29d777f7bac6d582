-- Tenants own endpoints, events and deliveries.
CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant');

-- Endpoints. The URL (which may carry credentials) and the signing secrets
-- are stored encrypted (AES-GCM); url_display is the redacted form the API
-- shows.
CREATE TABLE endpoints (
    id                   text PRIMARY KEY,
    tenant               text NOT NULL REFERENCES tenants (id),
    url_enc              bytea NOT NULL,
    url_display          text NOT NULL,
    description          text NOT NULL DEFAULT '',
    event_types          text[] NOT NULL,
    headers_enc          bytea,
    secret_enc           bytea NOT NULL,
    prev_secret_enc      bytea,
    prev_secret_until    timestamptz,
    timeout_ms           integer NOT NULL CHECK (timeout_ms > 0),
    state                text NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled')),
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since        timestamptz,
    disabled_reason      text,
    disabled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_tenant_idx ON endpoints (tenant, id);

-- Every change to an endpoint tells every instance, so that endpoint caches
-- stay fresh without polling. A change bumps updated_at; the sink's failure
-- counting does not, and does not notify.
CREATE FUNCTION hookstream_endpoint_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.updated_at IS NOT DISTINCT FROM NEW.updated_at THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('hookstream_endpoints', COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER endpoints_notify
    AFTER INSERT OR UPDATE OR DELETE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION hookstream_endpoint_notify();

-- Events: the dedupe gate (one row per tenant and id) and the payload for
-- manual retries and replays. src_partition/src_offset name the record that
-- claimed the id, so that re-reading that same record after a crash is told
-- apart from a second publish of the id.
CREATE TABLE events (
    tenant        text NOT NULL,
    id            text NOT NULL,
    type          text NOT NULL,
    data          json NOT NULL,
    created_at    timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    src_partition integer NOT NULL,
    src_offset    bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX events_received_idx ON events (received_at);
CREATE INDEX events_tenant_type_idx ON events (tenant, type, created_at);

-- Deliveries: one per event and endpoint, its state after the latest attempt.
CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    tenant           text NOT NULL,
    endpoint_id      text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX deliveries_tenant_idx ON deliveries (tenant, created_at DESC, id DESC);
CREATE INDEX deliveries_event_idx ON deliveries (tenant, event_id);
CREATE INDEX deliveries_parked_idx ON deliveries (endpoint_id, created_at, id) WHERE status = 'parked';

-- Attempts: the history, one row per delivery and attempt number. The
-- biggest table: retention removes old rows by attempted_at.
CREATE TABLE attempts (
    delivery_id        text NOT NULL,
    attempt            integer NOT NULL,
    tenant             text NOT NULL,
    endpoint_id        text NOT NULL,
    outcome            text NOT NULL,
    status_code        integer,
    error              text,
    latency_us         bigint NOT NULL,
    response_body      text,
    response_truncated boolean NOT NULL DEFAULT false,
    attempted_at       timestamptz NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX attempts_attempted_idx ON attempts (attempted_at);
