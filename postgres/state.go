package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// SetEndpointState enables or disables a tenant's endpoint by hand. Enabling
// clears the failure count and the disabled reason; disabling records the
// reason. It bumps updated_at, which tells every instance.
func (db *DB) SetEndpointState(ctx context.Context, tenant, id string, enabled bool, reason string) (schema.Endpoint, error) {
	var row pgx.Row
	if enabled {
		row = db.pool.QueryRow(ctx, `UPDATE endpoints SET state = 'enabled', consecutive_failures = 0,
			failing_since = NULL, disabled_reason = NULL, disabled_at = NULL, updated_at = clock_timestamp()
			WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns, tenant, id)
	} else {
		row = db.pool.QueryRow(ctx, `UPDATE endpoints SET state = 'disabled', disabled_reason = $3,
			disabled_at = clock_timestamp(), updated_at = clock_timestamp()
			WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns, tenant, id, reason)
	}
	ep, err := db.scanEndpoint(row, false)
	if err != nil {
		return ep, fmt.Errorf("postgres: set endpoint state: %w", err)
	}
	return ep, nil
}

// ParkedTasks returns up to limit parked deliveries of an endpoint after the
// cursor, oldest first, as the tasks of their next attempt (original
// delivery ids, the events' data as stored).
func (db *DB) ParkedTasks(ctx context.Context, endpointID string, after *schema.Cursor, limit int) ([]schema.Task, *schema.Cursor, error) {
	var afterAt *time.Time
	var afterID string
	if after != nil {
		afterAt, afterID = &after.CreatedAt, after.ID
	}
	rows, err := db.pool.Query(ctx, `
		SELECT d.id, d.attempts, d.created_at, e.tenant, e.id, e.type, e.data::text, e.created_at
		FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
		WHERE d.endpoint_id = $1 AND d.status = 'parked'
			AND ($2::timestamptz IS NULL OR (d.created_at, d.id) > ($2, $3))
		ORDER BY d.created_at, d.id
		LIMIT $4`, endpointID, afterAt, afterID, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: parked tasks: %w", err)
	}
	defer rows.Close()
	var (
		tasks []schema.Task
		next  *schema.Cursor
	)
	for rows.Next() {
		var (
			t    schema.Task
			made int
			at   time.Time
			data string
		)
		if err := rows.Scan(&t.DeliveryID, &made, &at, &t.Event.Tenant, &t.Event.ID, &t.Event.Type,
			&data, &t.Event.CreatedAt); err != nil {
			return nil, nil, fmt.Errorf("postgres: parked tasks: %w", err)
		}
		t.V, t.EndpointID, t.Attempt, t.Event.Data = schema.Version, endpointID, made+1, []byte(data)
		tasks = append(tasks, t)
		next = &schema.Cursor{CreatedAt: at, ID: t.DeliveryID}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("postgres: parked tasks: %w", err)
	}
	return tasks, next, nil
}

// MarkRequeued moves parked deliveries back to retrying once their tasks
// are queued again, so that they are not replayed twice. updated_at stays:
// it orders outcomes by the deliverers' clocks, and the replay's outcome
// must win whatever this server's clock says.
func (db *DB) MarkRequeued(ctx context.Context, ids []string) error {
	_, err := db.pool.Exec(ctx, `UPDATE deliveries SET status = 'retrying', next_attempt_at = now()
		WHERE id = ANY($1) AND status = 'parked'`, ids)
	if err != nil {
		return fmt.Errorf("postgres: mark requeued: %w", err)
	}
	return nil
}

// wrapErr names the operation in err, except for schema.ErrNotFound, which
// goes back as it is.
func wrapErr(op string, err error) error {
	if err == nil || errors.Is(err, schema.ErrNotFound) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
