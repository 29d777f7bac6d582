-- Partitioned history (issue 17): events, deliveries and attempts are
-- partitioned by range of time, so that retention detaches and drops whole
-- partitions instead of deleting rows. hookstream makes the partitions
-- ahead itself (postgres.EnsurePartitions); each table has a DEFAULT
-- partition for the rows no partition covers (a publisher's created_at
-- years away, a gap while no instance ran), which retention prunes by
-- batched DELETE and which partition creation empties of the rows in its
-- range. See docs/operations.md, "History partitions".
--
-- A unique constraint of a partitioned table must hold its partition key,
-- so (tenant, id) can no longer be unique in events: the dedupe gate moves
-- to event_keys, one narrow unpartitioned row per event, pruned by DELETE
-- alongside the events' partitions.
CREATE TABLE event_keys (
    tenant        text NOT NULL,
    id            text NOT NULL,
    received_at   timestamptz NOT NULL,
    src_topic     text NOT NULL DEFAULT '',
    src_partition integer NOT NULL,
    src_offset    bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
INSERT INTO event_keys (tenant, id, received_at, src_topic, src_partition, src_offset)
    SELECT tenant, id, received_at, src_topic, src_partition, src_offset FROM events;
CREATE INDEX event_keys_received_idx ON event_keys (received_at);

-- Today's tables become partitions: each is renamed <table>_legacy (its
-- indexes too), a partitioned table of the same columns takes its name,
-- and the legacy table, if it holds rows, is attached as the partition of
-- everything before the end of the current UTC day (rows dated later move
-- to the DEFAULT partition first). No row is copied but those; attaching
-- scans each legacy table once (its CHECK constraint) and builds the one
-- index whose columns changed (the primary key, which now holds the
-- partition key). Retention prunes the legacy partitions by DELETE until
-- they lie wholly past the retention age, then drops them.
DO $$
DECLARE
    t   record;
    ix  record;
    has boolean;
    cut timestamptz := (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC';
BEGIN
    FOR t IN SELECT * FROM (VALUES ('events', 'received_at'), ('deliveries', 'created_at'),
            ('attempts', 'attempted_at')) AS v(name, col) LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t.name, t.name || '_legacy');
        FOR ix IN SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                WHERE x.indrelid = (t.name || '_legacy')::regclass LOOP
            EXECUTE format('ALTER INDEX %I RENAME TO %I', ix.relname, 'legacy_' || ix.relname);
        END LOOP;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) PARTITION BY RANGE (%I)',
            t.name, t.name || '_legacy', t.col);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t.name || '_default', t.name);
    END LOOP;

    -- The indexes of migrations 0001-0005, with the partition key added to
    -- the unique ones.
    ALTER TABLE events ADD PRIMARY KEY (tenant, id, received_at);
    CREATE INDEX events_received_idx ON events (received_at);
    CREATE INDEX events_tenant_type_idx ON events (tenant, type, created_at);
    CREATE INDEX events_tenant_created_idx ON events (tenant, created_at DESC, id DESC);

    ALTER TABLE deliveries ADD PRIMARY KEY (id, created_at);
    CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, created_at DESC, id DESC);
    CREATE INDEX deliveries_tenant_idx ON deliveries (tenant, created_at DESC, id DESC);
    CREATE INDEX deliveries_event_idx ON deliveries (tenant, event_id);
    CREATE INDEX deliveries_parked_idx ON deliveries (endpoint_id, created_at, id) WHERE status = 'parked';
    CREATE INDEX deliveries_created_idx ON deliveries (created_at);

    ALTER TABLE attempts ADD PRIMARY KEY (delivery_id, attempt, attempted_at);
    CREATE INDEX attempts_attempted_idx ON attempts (attempted_at);
    CREATE INDEX attempts_endpoint_at_idx ON attempts (endpoint_id, attempted_at DESC);
    CREATE INDEX attempts_endpoint_failed_idx ON attempts (endpoint_id, attempted_at DESC) WHERE outcome <> 'succeeded';

    -- An endpoint belongs to one tenant: these statistics tell the
    -- planner so (postgres.createPartition makes them for every new
    -- partition; the parent's are not used for its partitions).
    CREATE STATISTICS deliveries_default_tenant_endpoint (dependencies) ON tenant, endpoint_id FROM deliveries_default;
    CREATE STATISTICS attempts_default_tenant_endpoint (dependencies) ON tenant, endpoint_id FROM attempts_default;

    FOR t IN SELECT * FROM (VALUES ('events', 'received_at'), ('deliveries', 'created_at'),
            ('attempts', 'attempted_at')) AS v(name, col) LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %I)', t.name || '_legacy') INTO has;
        IF NOT has THEN
            EXECUTE format('DROP TABLE %I', t.name || '_legacy');
            CONTINUE;
        END IF;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE %I >= %L', t.name, t.name || '_legacy', t.col, cut);
        EXECUTE format('DELETE FROM %I WHERE %I >= %L', t.name || '_legacy', t.col, cut);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I < %L)',
            t.name || '_legacy', t.name || '_legacy_bound', t.col, cut);
        -- The old primary key goes: a partition has the primary key of
        -- its table (attaching builds it), and no other.
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t.name || '_legacy', 'legacy_' || t.name || '_pkey');
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
            t.name, t.name || '_legacy', cut);
        IF t.name <> 'events' THEN
            EXECUTE format('CREATE STATISTICS %I (dependencies) ON tenant, endpoint_id FROM %I',
                t.name || '_legacy_tenant_endpoint', t.name || '_legacy');
        END IF;
    END LOOP;
END;
$$;
