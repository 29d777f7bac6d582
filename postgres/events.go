package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// ClaimEvents is the dedupe gate. It records each event under its tenant and
// id unless the id is already recorded, and reports for each claim whether
// its fan-out is due: true for the record that first claimed the id (also
// when that same record is read again after a crash, before its fan-out
// committed), false for any other record carrying an id already claimed.
//
// The gate is event_keys, unpartitioned, whose primary key (tenant, id)
// holds across the partitions of events (a unique index of a partitioned
// table must hold its partition key, received_at, and so could not). The
// key and the event are written by one statement: the event row exists
// exactly when its key does, with the same received_at.
func (db *DB) ClaimEvents(ctx context.Context, claims []schema.Claim) ([]bool, error) {
	n := len(claims)
	tenants, ids, types, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, parts, offs := make([]time.Time, n), make([]int32, n), make([]int64, n)
	topics, ces := make([]string, n), make([]string, n)
	for i, c := range claims {
		ces[i] = cloudEventJSON(c.Event.CloudEvent)
		tenants[i], ids[i], types[i], data[i] = c.Event.Tenant, c.Event.ID, c.Event.Type, string(c.Event.Data)
		created[i], topics[i], parts[i], offs[i] = c.Event.CreatedAt, c.Topic, c.Partition, c.Offset
	}
	type key struct{ tenant, id string }
	type pos struct {
		t string
		p int32
		o int64
	}
	owner := make(map[key]pos, n)
	scan := func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var k key
			var p pos
			if err := rows.Scan(&k.tenant, &k.id, &p.t, &p.p, &p.o); err != nil {
				return err
			}
			owner[k] = p
		}
		return rows.Err()
	}
	// One statement in the common case: the rows inserted now name their
	// owners. Only ids that were already claimed (a duplicate, or this
	// same record read again after a crash) need a second look.
	rows, err := db.pool.Query(ctx, `
		WITH u AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int[], $7::bigint[], $8::text[], $9::text[])
				AS u(t, i, ty, d, c, p, o, st, ce)
		), k AS (
			INSERT INTO event_keys (tenant, id, received_at, src_topic, src_partition, src_offset)
			SELECT t, i, now(), st, p, o FROM u
			ON CONFLICT (tenant, id) DO NOTHING
			RETURNING tenant, id, received_at, src_topic, src_partition, src_offset
		)
		INSERT INTO events (tenant, id, type, data, created_at, received_at, src_topic, src_partition, src_offset, cloudevent)
		SELECT DISTINCT ON (k.tenant, k.id) k.tenant, k.id, u.ty, u.d::json, u.c, k.received_at, k.src_topic, k.src_partition, k.src_offset,
			NULLIF(u.ce, '')::jsonb
		FROM k JOIN u ON u.t = k.tenant AND u.i = k.id AND u.st = k.src_topic AND u.p = k.src_partition AND u.o = k.src_offset
		ORDER BY k.tenant, k.id
		RETURNING tenant, id, src_topic, src_partition, src_offset`,
		tenants, ids, types, data, created, parts, offs, topics, ces)
	if err == nil {
		err = scan(rows)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: claim events: %w", dataError(err))
	}
	var otherTenants, otherIDs []string
	for _, c := range claims {
		if _, ok := owner[key{c.Event.Tenant, c.Event.ID}]; !ok {
			otherTenants, otherIDs = append(otherTenants, c.Event.Tenant), append(otherIDs, c.Event.ID)
		}
	}
	if len(otherIDs) > 0 {
		rows, err := db.pool.Query(ctx, `
			SELECT e.tenant, e.id, e.src_topic, e.src_partition, e.src_offset
			FROM event_keys e JOIN unnest($1::text[], $2::text[]) AS u(t, i) ON e.tenant = u.t AND e.id = u.i`,
			otherTenants, otherIDs)
		if err == nil {
			err = scan(rows)
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: claim events: %w", err)
		}
	}
	fresh := make([]bool, n)
	for i, c := range claims {
		p, ok := owner[key{c.Event.Tenant, c.Event.ID}]
		if !ok {
			return nil, fmt.Errorf("postgres: claim events: event %s vanished after insert", c.Event.ID)
		}
		fresh[i] = p.t == c.Topic && p.p == c.Partition && p.o == c.Offset
	}
	return fresh, nil
}

const eventColumns = `tenant, id, type, data::text, created_at, received_at`

func scanEvent(r pgx.Row) (schema.StoredEvent, error) {
	var (
		e    schema.StoredEvent
		data string
	)
	err := r.Scan(&e.Tenant, &e.ID, &e.Type, &data, &e.CreatedAt, &e.ReceivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, schema.ErrNotFound
	}
	e.Data = []byte(data)
	return e, err
}

// StoredEvent returns one event of a tenant.
func (db *DB) StoredEvent(ctx context.Context, tenant, id string) (schema.StoredEvent, error) {
	// Its key says which partition holds it: one is read, not all.
	e, err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE tenant = $1 AND id = $2
		AND received_at = (SELECT received_at FROM event_keys WHERE tenant = $1 AND id = $2)`, tenant, id))
	err = wrapErr("event", err)
	return e, err
}

// StoredEvents lists up to f.Limit events matching the filter, fewer when
// f.MaxBytes cuts the page short; more reports whether events follow the
// last one listed. The data of the events left out is never read into
// memory: their sizes are measured in Postgres (octet_length reads a
// stored value's length without decompressing it).
func (db *DB) StoredEvents(ctx context.Context, f schema.EventFilter) (events []schema.StoredEvent, more bool, err error) {
	var beforeAt *time.Time
	var beforeID string
	if f.Before != nil {
		beforeAt, beforeID = &f.Before.CreatedAt, f.Before.ID
	}
	rows, err := db.pool.Query(ctx, `
		WITH page AS (
			SELECT tenant, id, created_at, octet_length(data::text) AS size FROM events
			WHERE tenant = $1
				AND ($2 = '' OR type = $2)
				AND ($3::timestamptz IS NULL OR created_at >= $3)
				AND ($4::timestamptz IS NULL OR created_at < $4)
				AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
			ORDER BY created_at DESC, id DESC
			LIMIT $7::int + 1
		), sized AS (
			SELECT tenant, id, created_at, row_number() OVER w AS n, sum(size) OVER w - size AS before
			FROM page WINDOW w AS (ORDER BY created_at DESC, id DESC)
		)
		SELECT e.tenant, e.id, e.type,
			CASE WHEN s.n <= $7 AND (s.n = 1 OR $8::bigint <= 0 OR s.before < $8) THEN e.data::text END,
			e.created_at, e.received_at
		FROM sized s JOIN events e ON e.tenant = s.tenant AND e.id = s.id
		ORDER BY s.created_at DESC, s.id DESC`,
		f.Tenant, f.Type, f.Since, f.Until, beforeAt, beforeID, f.Limit, f.MaxBytes)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e    schema.StoredEvent
			data *string
		)
		if err := rows.Scan(&e.Tenant, &e.ID, &e.Type, &data, &e.CreatedAt, &e.ReceivedAt); err != nil {
			return nil, false, fmt.Errorf("postgres: events: %w", err)
		}
		if data == nil { // past the limit or the bytes: the next page's
			more = true
			continue
		}
		e.Data = []byte(*data)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("postgres: events: %w", err)
	}
	return events, more, nil
}
