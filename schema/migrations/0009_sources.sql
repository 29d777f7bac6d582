-- Sources: topics hookstream reads as they are, each record made an event
-- by the source's rules (schema.Source). definition holds the rules, the
-- name and the start as the API shows them.
CREATE TABLE sources (
    id            text PRIMARY KEY,
    topic         text NOT NULL DEFAULT '',
    topic_pattern text NOT NULL DEFAULT '',
    definition    jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((topic = '') <> (topic_pattern = ''))
);

-- The dedupe gate owns an event by the record that first claimed it; the
-- records of sources come from other topics, which src_topic names ('' is
-- the events topic, as for every event claimed before sources existed).
ALTER TABLE events ADD COLUMN src_topic text NOT NULL DEFAULT '';
