-- Each attempt carries the partition key of its delivery (the delivery's
-- created_at, its event's creation time), so that GET /v1/attempts finds
-- the event id and type of an attempt's delivery in one partition of
-- deliveries, by its primary key, instead of probing every partition
-- (deliveries are partitioned by created_at, attempts by attempted_at,
-- and a delivery's id says nothing of its time). Attempts written before
-- this migration have none: the feed looks their deliveries up by id
-- alone, as before (postgres.AttemptFeed). Adding a column without a
-- default rewrites nothing.
ALTER TABLE attempts ADD COLUMN IF NOT EXISTS delivery_created_at timestamptz;
