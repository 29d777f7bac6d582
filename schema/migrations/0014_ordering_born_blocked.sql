-- Ordered delivery (docs/ordering.md), issue 16's second pass.
--
-- updated_at dates a key's last change (a number given, a head resolved):
-- a key idle, fully resolved and not halted for the retention period is
-- forgotten (postgres.DB.PruneOrdering).
ALTER TABLE ordering_keys ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX ordering_keys_idle_idx ON ordering_keys (updated_at) WHERE halted_at IS NULL;

-- A resolved delivery keeps its row for a while (resolved_at set,
-- blocked_attempt NULL): a dispatcher batch read again after a crash finds
-- the numbers it gave even to deliveries resolved since, and a manual
-- retry of a resolved delivery is known as such.
ALTER TABLE ordered_deliveries ADD COLUMN resolved_at timestamptz;
CREATE INDEX ordered_deliveries_resolved_idx ON ordered_deliveries (resolved_at) WHERE resolved_at IS NOT NULL;

-- released_by names the task (delivery id and attempt) whose resolution
-- released the row: only that task, read again after a crash, releases it
-- again (a manual retry of an earlier delivery does not).
ALTER TABLE ordered_deliveries ADD COLUMN released_by text;
