-- The API's history queries on indexes at any size (issue 17; the figures
-- are in docs/performance.md, "Partitioned history").
--
-- GET /v1/deliveries?status=…: a tenant's deliveries of one status, newest
-- first. On the tenant's index the status was a filter: a tenant without
-- one dead delivery read every delivery it had to say so. Most deliveries
-- succeed, so the index holds the others only: it costs nothing to the
-- deliveries that succeed at their first attempt, and the listing of the
-- succeeded ones reads the tenant's index, where nearly every row matches.
-- postgres.Deliveries states the predicate in its SQL, so that a generic
-- plan uses the index too.
CREATE INDEX deliveries_status_idx ON deliveries (tenant, status, created_at DESC, id DESC)
    WHERE status <> 'succeeded';

-- GET /v1/attempts: a tenant's attempts since a time. On attempted_at's
-- index the tenant was a filter: a tenant with a hundredth of the traffic
-- read a hundred rows for each of its own, a quiet tenant the whole
-- window. (tenant, attempted_at) takes the place of (attempted_at), which
-- only retention's DELETE of the partitions without an end (the DEFAULT
-- and legacy ones) needs: they keep an index of their own on it, made
-- before the partitioned one goes. The sink writes as many index entries
-- per attempt as before.
CREATE INDEX attempts_default_retention_idx ON attempts_default (attempted_at);
DO $$
BEGIN
    IF to_regclass('attempts_legacy') IS NOT NULL THEN
        CREATE INDEX attempts_legacy_retention_idx ON attempts_legacy (attempted_at);
    END IF;
END;
$$;
DROP INDEX attempts_attempted_idx;
CREATE INDEX attempts_tenant_at_idx ON attempts (tenant, attempted_at);
