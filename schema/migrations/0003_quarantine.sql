-- A receiver's answer body that is not clean text (binary, NUL, not UTF-8)
-- is kept as the base64 of its bytes.
ALTER TABLE attempts ADD COLUMN response_body_base64 boolean NOT NULL DEFAULT false;

-- Re-drives of quarantined records, one per record (its partition and
-- offset in the quarantine topic): a record is put back once.
CREATE TABLE quarantine_redrives (
    part        integer NOT NULL,
    "offset"    bigint NOT NULL,
    redriven_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (part, "offset")
);
