package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// eventTypeChannel is the NOTIFY channel the event_types trigger signals
// on.
const eventTypeChannel = "hookstream_event_types"

const eventTypeColumns = `tenant, name, description, schema::text, example::text, deprecated, validate, created_at, updated_at`

func scanEventType(row pgx.Row) (schema.EventType, error) {
	var (
		t               schema.EventType
		sch, ex         *string
		created, update time.Time
	)
	err := row.Scan(&t.Tenant, &t.Name, &t.Description, &sch, &ex, &t.Deprecated, &t.Validate, &created, &update)
	if err != nil {
		return t, err
	}
	if sch != nil {
		t.Schema = json.RawMessage(*sch)
	}
	if ex != nil {
		t.Example = json.RawMessage(*ex)
	}
	t.CreatedAt, t.UpdatedAt = created.UTC(), update.UTC()
	return t, nil
}

// jsonParam is a JSON text as a query parameter: NULL when empty.
func jsonParam(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// CreateEventType stores a new event type: schema.ErrConflict when the
// tenant (or the shared catalog) has one of that name already,
// schema.ErrLimitReached when it has maxPerTenant types already (0: no
// limit). Creations of one tenant are serialised, so that concurrent ones
// cannot pass the limit together.
func (db *DB) CreateEventType(ctx context.Context, t schema.EventType, maxPerTenant int) (schema.EventType, error) {
	var out schema.EventType
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if maxPerTenant > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('hookstream.event_types/' || $1))`, t.Tenant); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM event_types WHERE tenant = $1`, t.Tenant).Scan(&n); err != nil {
				return err
			}
			if n >= maxPerTenant {
				return schema.ErrLimitReached
			}
		}
		var err error
		out, err = scanEventType(tx.QueryRow(ctx, `
			INSERT INTO event_types (tenant, name, description, schema, example, deprecated, validate)
			VALUES ($1, $2, $3, $4::json, $5::json, $6, $7)
			RETURNING `+eventTypeColumns,
			t.Tenant, t.Name, t.Description, jsonParam(t.Schema), jsonParam(t.Example), t.Deprecated, t.Validate))
		return err
	})
	switch {
	case errors.Is(err, schema.ErrLimitReached):
		return out, err
	case isUniqueViolation(err):
		return out, schema.ErrConflict
	}
	return out, wrapErr("create event type", dataError(err))
}

// EventType returns a tenant's own event type (schema.SharedTenant: a
// shared one) by name.
func (db *DB) EventType(ctx context.Context, tenant, name string) (schema.EventType, error) {
	t, err := scanEventType(db.pool.QueryRow(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE tenant = $1 AND name = $2`, tenant, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, schema.ErrNotFound
	}
	return t, wrapErr("event type", err)
}

// EventTypes lists the event types a tenant's events may have, by name
// after the cursor: its own and the shared ones, its own in place of a
// shared one of the same name.
func (db *DB) EventTypes(ctx context.Context, tenant, after string, limit int) ([]schema.EventType, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT DISTINCT ON (name) `+eventTypeColumns+` FROM event_types
		WHERE tenant IN ($1, '') AND name > $2
		ORDER BY name, tenant DESC
		LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, wrapErr("event types", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.EventType, error) { return scanEventType(r) })
	return ts, wrapErr("event types", err)
}

// AllEventTypes returns every event type of every tenant, shared ones too:
// what the compiled catalog (package catalog) holds.
func (db *DB) AllEventTypes(ctx context.Context) ([]schema.EventType, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+eventTypeColumns+` FROM event_types`)
	if err != nil {
		return nil, wrapErr("all event types", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.EventType, error) { return scanEventType(r) })
	return ts, wrapErr("all event types", err)
}

// ReplaceEventType writes t over the stored type of its tenant and name,
// if that one still has t's UpdatedAt (what its caller read): else
// schema.ErrConflict (changed meanwhile) or schema.ErrNotFound (deleted).
func (db *DB) ReplaceEventType(ctx context.Context, t schema.EventType) (schema.EventType, error) {
	out, err := scanEventType(db.pool.QueryRow(ctx, `
		UPDATE event_types SET description = $3, schema = $4::json, example = $5::json,
			deprecated = $6, validate = $7, updated_at = greatest(now(), updated_at + interval '1 microsecond')
		WHERE tenant = $1 AND name = $2 AND updated_at = $8
		RETURNING `+eventTypeColumns,
		t.Tenant, t.Name, t.Description, jsonParam(t.Schema), jsonParam(t.Example), t.Deprecated, t.Validate, t.UpdatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := db.EventType(ctx, t.Tenant, t.Name); err != nil {
			return out, err
		}
		return out, schema.ErrConflict
	}
	return out, wrapErr("replace event type", dataError(err))
}

// DeleteEventType removes a tenant's own event type (schema.SharedTenant:
// a shared one).
func (db *DB) DeleteEventType(ctx context.Context, tenant, name string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM event_types WHERE tenant = $1 AND name = $2`, tenant, name)
	if err != nil {
		return wrapErr("delete event type", err)
	}
	if tag.RowsAffected() == 0 {
		return schema.ErrNotFound
	}
	return nil
}

// ListenEventTypes calls changed for every event type inserted, updated or
// deleted by any instance ("tenant/name"), and with "" whenever the
// listening connection is (re)established, until ctx ends.
func (db *DB) ListenEventTypes(ctx context.Context, changed func(id string), onErr func(error)) {
	db.listenChannel(ctx, eventTypeChannel, changed, onErr)
}
