-- Listeners: temporary endpoints of `hookstream listen` streams. relay_url
-- is the API instance holding the stream, where deliverers send the
-- listener's attempts (hookstream's own address: never tenant input);
-- NULL for ordinary endpoints. The instance touches listener_seen_at while
-- the stream lives (without changing updated_at: no NOTIFY); listeners
-- untouched for a while are removed by any instance.
ALTER TABLE endpoints ADD COLUMN relay_url text;
ALTER TABLE endpoints ADD COLUMN listener_seen_at timestamptz;
CREATE INDEX endpoints_listener_idx ON endpoints (listener_seen_at) WHERE relay_url IS NOT NULL;
