package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// StoredEvent is an event as the dedupe gate recorded it.
type StoredEvent struct {
	schema.Event
	ReceivedAt time.Time
}

// EventFilter selects events of a tenant; empty fields match all. Results
// come newest first (by created_at, then id); Before continues a listing.
type EventFilter struct {
	Tenant       string
	Type         string
	Since, Until *time.Time // Since <= created_at < Until
	Before       *DeliveryCursor
	Limit        int
	// MaxBytes, when positive, bounds a page by its data too: an event is
	// listed only while the data of those before it holds less than
	// MaxBytes, so a page holds at most MaxBytes plus one event's data,
	// and at least one event.
	MaxBytes int
}

const eventColumns = `tenant, id, type, data::text, created_at, received_at`

func scanEvent(r pgx.Row) (StoredEvent, error) {
	var (
		e    StoredEvent
		data string
	)
	err := r.Scan(&e.Tenant, &e.ID, &e.Type, &data, &e.CreatedAt, &e.ReceivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	e.Data = []byte(data)
	return e, err
}

// StoredEvent returns one event of a tenant.
func (db *DB) StoredEvent(ctx context.Context, tenant, id string) (StoredEvent, error) {
	e, err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE tenant = $1 AND id = $2`, tenant, id))
	err = wrapErr("event", err)
	return e, err
}

// StoredEvents lists up to f.Limit events matching the filter, fewer when
// f.MaxBytes cuts the page short; more reports whether events follow the
// last one listed. The data of the events left out is never read into
// memory: their sizes are measured in Postgres (octet_length reads a
// stored value's length without decompressing it).
func (db *DB) StoredEvents(ctx context.Context, f EventFilter) (events []StoredEvent, more bool, err error) {
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
			e    StoredEvent
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

// ErrEventGone is returned when a delivery's event is no longer stored
// (retention removed it), so it cannot be sent again.
var ErrEventGone = errors.New("postgres: the delivery's event is no longer stored")

// RetryTask returns the task of the next attempt of a tenant's delivery:
// the same delivery id, attempt number attempts+1, the event as stored.
// ErrNotFound when there is no such delivery, ErrEventGone when its event
// was removed.
func (db *DB) RetryTask(ctx context.Context, tenant, deliveryID string) (schema.Task, error) {
	var (
		t     schema.Task
		made  int
		evID  *string
		data  *string
		typ   *string
		evAt  *time.Time
		evTen string
	)
	err := db.pool.QueryRow(ctx, `
		SELECT d.endpoint_id, d.attempts, d.tenant, e.id, e.type, e.data::text, e.created_at
		FROM deliveries d LEFT JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
		WHERE d.tenant = $1 AND d.id = $2`, tenant, deliveryID).
		Scan(&t.EndpointID, &made, &evTen, &evID, &typ, &data, &evAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("postgres: retry task: %w", err)
	}
	if evID == nil {
		return t, ErrEventGone
	}
	t.V, t.DeliveryID, t.Attempt = schema.Version, deliveryID, made+1
	t.Event = schema.Event{ID: *evID, Tenant: evTen, Type: *typ, Data: []byte(*data), CreatedAt: *evAt}
	return t, nil
}

// MarkRetrying shows deliveries as retrying, due now, once the tasks of
// their next attempts are queued. A delivery whose queued attempt is
// already recorded (the deliverer was faster than this update) keeps the
// outcome the sink wrote.
func (db *DB) MarkRetrying(ctx context.Context, tasks []schema.Task) error {
	ids, attempts := make([]string, len(tasks)), make([]int32, len(tasks))
	for i, t := range tasks {
		ids[i], attempts[i] = t.DeliveryID, int32(t.Attempt)
	}
	_, err := db.pool.Exec(ctx, `UPDATE deliveries d SET status = 'retrying', next_attempt_at = now()
		FROM unnest($1::text[], $2::int[]) AS u(id, attempt)
		WHERE d.id = u.id AND d.attempts < u.attempt`, ids, attempts)
	if err != nil {
		return fmt.Errorf("postgres: mark retrying: %w", err)
	}
	return nil
}
