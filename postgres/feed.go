package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookstream/hookstream/schema"
)

// AttemptFeed lists a tenant's attempts by the time they were made, oldest
// first. The sink writes attempts in batches: an attempt can appear after
// later ones were listed, so a reader that follows the feed reads again a
// window behind the newest attempt it saw. It reads the tenant's attempts
// on attempts_tenant_at_idx from Since, in the partitions from Since on;
// each one's delivery (event id and type) is a lookup by primary key in
// the one partition of deliveries its delivery_created_at names (pruned
// as the join runs). Attempts written before migration 0015 have no
// delivery_created_at: their deliveries are looked up by id in every
// partition.
func (db *DB) AttemptFeed(ctx context.Context, f schema.FeedFilter) ([]schema.FeedAttempt, error) {
	sql, args := feedQuery(f)
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: attempt feed: %w", err)
	}
	defer rows.Close()
	var out []schema.FeedAttempt
	for len(out) < f.Limit && rows.Next() {
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

// feedQuery is the statement of a feed filter and its arguments: only the
// conditions of its fields, each shape its own prepared statement (see
// Deliveries), the cursor's time a plain bound that prunes partitions,
// the LIMIT a literal (sqlLimit).
func feedQuery(f schema.FeedFilter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds = append(conds, "a.tenant = "+arg(f.Tenant), "a.attempted_at >= "+arg(f.Since))
	if f.Until != nil {
		conds = append(conds, "a.attempted_at < "+arg(*f.Until))
	}
	if f.EndpointID != "" {
		conds = append(conds, "a.endpoint_id = "+arg(f.EndpointID))
	}
	if f.Outcome != "" {
		conds = append(conds, "a.outcome = "+arg(f.Outcome))
	}
	if f.After != nil {
		at := arg(f.After.At)
		conds = append(conds, "a.attempted_at >= "+at,
			"(a.attempted_at, a.delivery_id, a.attempt) > ("+at+", "+arg(f.After.DeliveryID)+", "+arg(f.After.Attempt)+")")
	}
	return `SELECT a.delivery_id, a.attempt, a.endpoint_id, COALESCE(d.event_id, ''), COALESCE(d.event_type, ''),
			a.outcome, COALESCE(a.status_code, 0), COALESCE(a.error, ''), a.latency_us, a.attempted_at
		FROM attempts a LEFT JOIN LATERAL (
			SELECT d.event_id, d.event_type FROM deliveries d
				WHERE d.id = a.delivery_id AND d.created_at = a.delivery_created_at
			UNION ALL
			SELECT d.event_id, d.event_type FROM deliveries d
				WHERE a.delivery_created_at IS NULL AND d.id = a.delivery_id
			LIMIT 1) d ON true
		WHERE ` + strings.Join(conds, "\n\t\t\tAND ") + `
		ORDER BY a.attempted_at, a.delivery_id, a.attempt
		LIMIT ` + sqlLimit(f.Limit), args
}
