-- The event-type catalog. tenant is '' for the shared types the
-- administrator declares for every tenant (no tenant row: no foreign key);
-- a tenant's own type of the same name takes its place for that tenant.
-- schema and example are JSON texts as they were sent (json, not jsonb:
-- kept byte for byte).
CREATE TABLE event_types (
    tenant      text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    schema      json,
    example     json,
    deprecated  boolean NOT NULL DEFAULT false,
    validate    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

-- Every change tells every instance, whose compiled catalog reloads.
CREATE FUNCTION hookstream_event_type_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('hookstream_event_types', COALESCE(NEW.tenant, OLD.tenant) || '/' || COALESCE(NEW.name, OLD.name));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER event_types_notify
    AFTER INSERT OR UPDATE OR DELETE ON event_types
    FOR EACH ROW EXECUTE FUNCTION hookstream_event_type_notify();
