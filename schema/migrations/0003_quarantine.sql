-- A receiver's answer body that is not clean text (binary, NUL, not UTF-8)
-- is kept as the base64 of its bytes.
ALTER TABLE attempts ADD COLUMN response_body_base64 boolean NOT NULL DEFAULT false;

-- The quarantine topic's records, as the sink role indexes them for the
-- API: one row per record (its partition and offset in the quarantine
-- topic). Key and value are kept as bytes, headers as base64 in JSON:
-- whatever a poison record holds, its row can be written.
CREATE TABLE quarantine (
    part           integer NOT NULL,
    "offset"       bigint NOT NULL,
    stage          text NOT NULL,
    reason         text NOT NULL,
    topic          text NOT NULL,
    src_partition  integer NOT NULL,
    src_offset     bigint NOT NULL,
    quarantined_at timestamptz NOT NULL,
    key            bytea,
    value          bytea,
    headers        jsonb NOT NULL DEFAULT '[]',
    redriven_at    timestamptz,
    PRIMARY KEY (part, "offset")
);
CREATE INDEX quarantine_at_idx ON quarantine (quarantined_at DESC, part DESC, "offset" DESC);
