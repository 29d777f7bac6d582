package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

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
	e, err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE tenant = $1 AND id = $2`, tenant, id))
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

// RetryDelivery sends a tenant's delivery again: under a lock on its row, it
// checks that no attempt of it is pending (its status is not retrying), hands
// send the task of its next attempt (attempts+1, the event as stored, the
// endpoint's version), and once send returns nil shows the delivery as
// retrying, due now, and returns it so. Retries of one delivery, and a retry
// and a recovery, are thereby serialised: whichever comes second finds it
// retrying. send runs inside the transaction, so it must not use this DB.
//
// schema.ErrNotFound when there is no such delivery, schema.ErrRetrying
// (with the delivery as it stands) while an attempt is pending,
// schema.ErrEventGone or schema.ErrEndpointGone when it cannot be sent, or
// send's error; in every case nothing changed.
func (db *DB) RetryDelivery(ctx context.Context, tenant, deliveryID string, send func(context.Context, schema.Task) error) (schema.Delivery, error) {
	var d schema.Delivery
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var (
			err     error
			evType  *string
			data    *string
			evAt    *time.Time
			version *time.Time
		)
		row := tx.QueryRow(ctx, `
			SELECT `+deliveryColumns+`, e.type, e.data::text, e.created_at, ep.updated_at
			FROM deliveries d
				LEFT JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
				LEFT JOIN endpoints ep ON ep.tenant = d.tenant AND ep.id = d.endpoint_id
			WHERE d.tenant = $1 AND d.id = $2
			FOR UPDATE OF d`, tenant, deliveryID)
		err = row.Scan(&d.ID, &d.Tenant, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
			&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt, &evType, &data, &evAt, &version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return schema.ErrNotFound
		case err != nil:
			return err
		case d.Status == string(schema.OutcomeRetrying):
			return schema.ErrRetrying
		case data == nil:
			return schema.ErrEventGone
		case version == nil:
			return schema.ErrEndpointGone
		}
		task := schema.Task{V: schema.Version, DeliveryID: d.ID, EndpointID: d.EndpointID, Attempt: d.Attempts + 1,
			EndpointVersion: *version,
			Event:           schema.Event{ID: d.EventID, Tenant: d.Tenant, Type: *evType, Data: []byte(*data), CreatedAt: *evAt}}
		if err := send(ctx, task); err != nil {
			return err
		}
		// updated_at stays: it orders outcomes by the deliverers' clocks,
		// and the attempt's outcome must win whatever this clock says.
		d, err = scanDelivery(tx.QueryRow(ctx, `UPDATE deliveries d SET status = 'retrying', next_attempt_at = now()
			WHERE id = $1 RETURNING `+deliveryColumns, d.ID))
		return err
	})
	if err == nil || errors.Is(err, schema.ErrNotFound) || errors.Is(err, schema.ErrRetrying) || errors.Is(err, schema.ErrEventGone) ||
		errors.Is(err, schema.ErrEndpointGone) {
		return d, err
	}
	return d, fmt.Errorf("postgres: retry delivery: %w", err)
}
