package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
)

// histStore is what the history scenario's queries call: the store
// methods behind the API's and the console's history pages.
type histStore interface {
	Deliveries(ctx context.Context, f schema.DeliveryFilter) ([]schema.Delivery, error)
	Attempts(ctx context.Context, tenant, deliveryID string) ([]schema.AttemptRecord, error)
	AttemptFeed(ctx context.Context, f schema.FeedFilter) ([]schema.FeedAttempt, error)
	EndpointStats(ctx context.Context, tenant string, ids []string, since time.Time) (map[string]schema.EndpointStats, error)
}

// beforeStore runs the statements postgres.Deliveries and
// postgres.AttemptFeed ran before the history queries were fixed (commit
// 6df7edb and earlier): one catch-all statement each, whatever the
// filter, so one prepared statement and one plan cache entry shared by
// every shape of filter. The other methods are the store's, unchanged.
// With the indexes of migration 0013, it gives the "before" figures on
// the same rows as the "after" ones.
type beforeStore struct {
	*postgres.DB
	pool *pgxpool.Pool // pgx's defaults, as postgres.Open: statements prepared and cached per connection
}

func (b beforeStore) Deliveries(ctx context.Context, f schema.DeliveryFilter) ([]schema.Delivery, error) {
	var beforeAt *time.Time
	var beforeID string
	if f.Before != nil {
		beforeAt, beforeID = &f.Before.CreatedAt, f.Before.ID
	}
	rows, err := b.pool.Query(ctx, `
		SELECT d.id, d.tenant, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts,
	COALESCE(d.last_status_code, 0), COALESCE(d.last_error, ''), d.next_attempt_at, d.created_at, d.updated_at,
	COALESCE(d.ordering_key, ''), COALESCE(d.seq, 0), COALESCE(d.waiting_for, '')
		FROM deliveries d
		WHERE tenant = $1
			AND ($8 = '' OR id = $8)
			AND ($2 = '' OR endpoint_id = $2)
			AND ($3 = '' OR event_id = $3)
			AND ($4 = '' OR status = $4)
			AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
			AND ($9::timestamptz IS NULL OR created_at >= $9)
			AND ($10::timestamptz IS NULL OR created_at < $10)
			AND ($11 = '' OR event_type = $11)
		ORDER BY created_at DESC, id DESC
		LIMIT $7`,
		f.Tenant, f.EndpointID, f.EventID, f.Status, beforeAt, beforeID, f.Limit, f.ID, f.Since, f.Until, f.EventType)
	if err != nil {
		return nil, fmt.Errorf("deliveries (before): %w", err)
	}
	defer rows.Close()
	var out []schema.Delivery
	for rows.Next() {
		var d schema.Delivery
		if err := rows.Scan(&d.ID, &d.Tenant, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
			&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt,
			&d.OrderingKey, &d.Sequence, &d.WaitingFor); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (b beforeStore) AttemptFeed(ctx context.Context, f schema.FeedFilter) ([]schema.FeedAttempt, error) {
	var afterAt *time.Time
	var afterID string
	var afterN int
	if f.After != nil {
		afterAt, afterID, afterN = &f.After.At, f.After.DeliveryID, f.After.Attempt
	}
	rows, err := b.pool.Query(ctx, `
		SELECT a.delivery_id, a.attempt, a.endpoint_id, COALESCE(d.event_id, ''), COALESCE(d.event_type, ''),
			a.outcome, COALESCE(a.status_code, 0), COALESCE(a.error, ''), a.latency_us, a.attempted_at
		FROM attempts a LEFT JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.tenant = $1
			AND a.attempted_at >= $2
			AND ($3::timestamptz IS NULL OR a.attempted_at < $3)
			AND ($4 = '' OR a.endpoint_id = $4)
			AND ($5 = '' OR a.outcome = $5)
			AND ($6::timestamptz IS NULL OR (a.attempted_at, a.delivery_id, a.attempt) > ($6, $7, $8))
		ORDER BY a.attempted_at, a.delivery_id, a.attempt
		LIMIT $9`,
		f.Tenant, f.Since, f.Until, f.EndpointID, f.Outcome, afterAt, afterID, afterN, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("attempt feed (before): %w", err)
	}
	defer rows.Close()
	var out []schema.FeedAttempt
	for rows.Next() {
		var a schema.FeedAttempt
		if err := rows.Scan(&a.DeliveryID, &a.Attempt, &a.EndpointID, &a.EventID, &a.EventType, &a.Outcome,
			&a.StatusCode, &a.Error, &a.LatencyMicros, &a.At); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
