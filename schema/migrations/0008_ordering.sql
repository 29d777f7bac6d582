-- Ordered delivery per key (docs/ordering.md). An endpoint asks for it
-- with ordering = 'key'; dead_head says what a key does when its earliest
-- unresolved delivery is given up.
ALTER TABLE endpoints ADD COLUMN ordering text NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'key'));
ALTER TABLE endpoints ADD COLUMN dead_head text NOT NULL DEFAULT 'skip' CHECK (dead_head IN ('skip', 'halt'));

-- One row per endpoint and ordering key: the last sequence number given
-- (next_seq) and the head, the lowest number not yet resolved. halted_at
-- is set while the key stops at a dead head (dead_head = 'halt').
CREATE TABLE ordering_keys (
    endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    key         text NOT NULL,
    next_seq    bigint NOT NULL DEFAULT 0,
    head_seq    bigint NOT NULL DEFAULT 1,
    halted_at   timestamptz,
    PRIMARY KEY (endpoint_id, key)
);
CREATE INDEX ordering_keys_halted_idx ON ordering_keys (halted_at) WHERE halted_at IS NOT NULL;

-- One row per unresolved delivery to an ordered endpoint: its number in its
-- key, and, while it is blocked behind the head, the attempt (and tier) it
-- resumes with. released is set once its task was produced again; the row
-- goes when the delivery is resolved.
CREATE TABLE ordered_deliveries (
    delivery_id   text PRIMARY KEY,
    endpoint_id   text NOT NULL,
    key           text NOT NULL,
    seq           bigint NOT NULL,
    tenant        text NOT NULL,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    blocked_attempt integer,
    blocked_tier  integer,
    released      boolean NOT NULL DEFAULT false,
    FOREIGN KEY (endpoint_id, key) REFERENCES ordering_keys (endpoint_id, key) ON DELETE CASCADE,
    UNIQUE (endpoint_id, key, seq)
);
CREATE INDEX ordered_deliveries_blocked_idx ON ordered_deliveries (endpoint_id) WHERE blocked_attempt IS NOT NULL;

-- History shows a delivery's place in its key and what a blocked one waits for.
ALTER TABLE deliveries ADD COLUMN ordering_key text;
ALTER TABLE deliveries ADD COLUMN seq bigint;
ALTER TABLE deliveries ADD COLUMN waiting_for text;
