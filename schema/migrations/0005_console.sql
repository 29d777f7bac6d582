-- The console and the tenants' portals (issue 14).

-- An endpoint's health over the last hour, and its last failure, read
-- without scanning the whole table: one index by endpoint and time, and a
-- small one of the failures alone.
CREATE INDEX IF NOT EXISTS attempts_endpoint_at_idx ON attempts (endpoint_id, attempted_at DESC);
CREATE INDEX IF NOT EXISTS attempts_endpoint_failed_idx ON attempts (endpoint_id, attempted_at DESC) WHERE outcome <> 'succeeded';

-- Sessions of a tenant's portal: the token is stored hashed, like API keys.
CREATE TABLE portal_sessions (
    id         text PRIMARY KEY,
    tenant     text NOT NULL REFERENCES tenants (id),
    hash       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX portal_sessions_tenant_idx ON portal_sessions (tenant, expires_at);

-- The origins that may embed a tenant's portal in a frame (CSP
-- frame-ancestors); none by default.
ALTER TABLE tenants ADD COLUMN portal_frame_ancestors text[] NOT NULL DEFAULT '{}';
