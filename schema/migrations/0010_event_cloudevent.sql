-- The CloudEvents attributes of an event that arrived as a CloudEvent
-- (schema.CloudEvent), NULL for any other: tasks made again from the events
-- table (manual retries, recoveries, parked and ordered deliveries) carry
-- them, so that a CloudEvents receiver sees the same source and id again.
ALTER TABLE events ADD COLUMN cloudevent jsonb;
