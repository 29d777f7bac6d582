-- Ordered delivery (docs/ordering.md): head_since dates the moment a key's
-- head became its head (the head moved on, or a key with nothing pending
-- was given a number). A key whose later deliveries wait behind a head
-- that has neither been attempted nor is waiting for a retry long after
-- head_since is stalled (postgres.DB.OrderingStats, the alert
-- HookstreamOrderingKeyStalled). A default of now() rewrites nothing.
ALTER TABLE ordering_keys ADD COLUMN head_since timestamptz NOT NULL DEFAULT now();
-- The keys OrderingStats looks at for stalls, oldest head first: not
-- halted, with a number given past the head (blocked or released).
CREATE INDEX ordering_keys_pending_idx ON ordering_keys (head_since) WHERE halted_at IS NULL AND next_seq > head_seq;
