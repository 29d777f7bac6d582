-- API keys: each authenticates as one tenant. Only a SHA-256 hash of the
-- key's secret part is stored: keys are verified, never shown again.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    tenant       text NOT NULL REFERENCES tenants (id),
    name         text NOT NULL DEFAULT '',
    hash         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant, id);

-- Jobs: long API operations (recovery of an endpoint's failed deliveries),
-- with their progress. A running job is worked by the instance holding its
-- lease; a job whose lease ran out (its instance died) is taken over and
-- resumed from its cursor.
CREATE TABLE jobs (
    id           text PRIMARY KEY,
    tenant       text NOT NULL,
    kind         text NOT NULL,
    endpoint_id  text NOT NULL,
    since        timestamptz NOT NULL,
    until        timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    total        integer NOT NULL DEFAULT 0,
    done         integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0,
    error        text,
    cursor_at    timestamptz,
    cursor_id    text,
    lease_until  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX jobs_running_idx ON jobs (created_at) WHERE status = 'running';

-- Listing a tenant's events newest first, and retention by age.
CREATE INDEX events_tenant_created_idx ON events (tenant, created_at DESC, id DESC);
CREATE INDEX deliveries_created_idx ON deliveries (created_at);
