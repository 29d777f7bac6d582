-- What goes out, per endpoint: the payload format, the Ed25519 public keys
-- (whpk_, not secret) of an endpoint that signs with Ed25519 (its private
-- key is secret_enc, like an HMAC secret; prev_public_key belongs to
-- prev_secret_enc and lives as long as it), and a CEL filter over events
-- ('' lets every event through).
ALTER TABLE endpoints ADD COLUMN payload_format text NOT NULL DEFAULT 'data';
ALTER TABLE endpoints ADD COLUMN public_key text;
ALTER TABLE endpoints ADD COLUMN prev_public_key text;
ALTER TABLE endpoints ADD COLUMN filter text NOT NULL DEFAULT '';
