package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// deliveryColumns are the columns scanDelivery reads, from deliveries d.
const deliveryColumns = `d.id, d.tenant, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts,
	COALESCE(d.last_status_code, 0), COALESCE(d.last_error, ''), d.next_attempt_at, d.created_at, d.updated_at`

func scanDelivery(r pgx.Row) (schema.Delivery, error) {
	var d schema.Delivery
	err := r.Scan(&d.ID, &d.Tenant, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
		&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, schema.ErrNotFound
	}
	return d, err
}

// Deliveries lists deliveries matching the filter.
func (db *DB) Deliveries(ctx context.Context, f schema.DeliveryFilter) ([]schema.Delivery, error) {
	var beforeAt *time.Time
	var beforeID string
	if f.Before != nil {
		beforeAt, beforeID = &f.Before.CreatedAt, f.Before.ID
	}
	rows, err := db.pool.Query(ctx, `
		SELECT `+deliveryColumns+`
		FROM deliveries d
		WHERE tenant = $1
			AND ($8 = '' OR id = $8)
			AND ($2 = '' OR endpoint_id = $2)
			AND ($3 = '' OR event_id = $3)
			AND ($4 = '' OR status = $4)
			AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
			AND ($9::timestamptz IS NULL OR created_at >= $9)
			AND ($10::timestamptz IS NULL OR created_at < $10)
		ORDER BY created_at DESC, id DESC
		LIMIT $7`,
		f.Tenant, f.EndpointID, f.EventID, f.Status, beforeAt, beforeID, f.Limit, f.ID, f.Since, f.Until)
	if err != nil {
		return nil, fmt.Errorf("postgres: deliveries: %w", err)
	}
	defer rows.Close()
	var out []schema.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: deliveries: %w", err)
	}
	return out, nil
}

// Attempts returns the history of one delivery of a tenant, oldest first.
func (db *DB) Attempts(ctx context.Context, tenant, deliveryID string) ([]schema.AttemptRecord, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT attempt, outcome, COALESCE(status_code, 0), COALESCE(error, ''), latency_us,
			COALESCE(response_body, ''), response_body_base64, response_truncated, attempted_at
		FROM attempts WHERE tenant = $1 AND delivery_id = $2 ORDER BY attempt`, tenant, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("postgres: attempts: %w", err)
	}
	defer rows.Close()
	var out []schema.AttemptRecord
	for rows.Next() {
		var a schema.AttemptRecord
		if err := rows.Scan(&a.Attempt, &a.Outcome, &a.StatusCode, &a.Error, &a.LatencyMicros,
			&a.ResponseBody, &a.ResponseBase64, &a.Truncated, &a.At); err != nil {
			return nil, fmt.Errorf("postgres: attempts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: attempts: %w", err)
	}
	return out, nil
}

// CountParked returns how many deliveries are parked, waiting for their
// endpoints to be enabled.
func (db *DB) CountParked(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE status = 'parked'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count parked: %w", err)
	}
	return n, nil
}
