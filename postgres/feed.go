package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// AttemptFeed lists a tenant's attempts by the time they were made, oldest
// first. The sink writes attempts in batches: an attempt can appear after
// later ones were listed, so a reader that follows the feed reads again a
// window behind the newest attempt it saw. It scans attempts_attempted_idx
// from Since: meant for recent times.
func (db *DB) AttemptFeed(ctx context.Context, f schema.FeedFilter) ([]schema.FeedAttempt, error) {
	var afterAt *time.Time
	var afterID string
	var afterN int
	if f.After != nil {
		afterAt, afterID, afterN = &f.After.At, f.After.DeliveryID, f.After.Attempt
	}
	rows, err := db.pool.Query(ctx, `
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
		return nil, fmt.Errorf("postgres: attempt feed: %w", err)
	}
	defer rows.Close()
	var out []schema.FeedAttempt
	for rows.Next() {
		var a schema.FeedAttempt
		if err := rows.Scan(&a.DeliveryID, &a.Attempt, &a.EndpointID, &a.EventID, &a.EventType, &a.Outcome,
			&a.StatusCode, &a.Error, &a.LatencyMicros, &a.At); err != nil {
			return nil, fmt.Errorf("postgres: attempt feed: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: attempt feed: %w", err)
	}
	return out, nil
}
