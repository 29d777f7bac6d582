package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// health is an endpoint's failure state as the sink tracks it in a batch.
type health struct {
	schema.EndpointHealth
	tenant, display string
	changed         bool
	disable         *schema.DisabledEndpoint
}

// updateHealth applies newly recorded attempts, in order, to their
// endpoints' health (rule.Observe decides), under a lock on their rows, and
// writes what changed. It returns the endpoints disabled now.
func updateHealth(ctx context.Context, tx pgx.Tx, attempts []schema.Attempt, rule schema.DisableRule) ([]schema.DisabledEndpoint, error) {
	if len(attempts) == 0 {
		return nil, nil
	}
	// Endpoints with only successes in the batch end with no failures,
	// whatever they had: reset those that had some, and leave the others
	// alone. Healthy endpoints are most of them, and updating (or locking)
	// each one's row for every batch was most of Postgres's work under a
	// steady load (docs/performance.md). Endpoints with a failure are read,
	// locked and counted in order below.
	failed := map[string]bool{}
	for _, a := range attempts {
		if a.Outcome != schema.OutcomeSucceeded {
			failed[a.EndpointID] = true
		}
	}
	var ids, healthy []string
	seen := map[string]bool{}
	for _, a := range attempts {
		if seen[a.EndpointID] {
			continue
		}
		seen[a.EndpointID] = true
		if failed[a.EndpointID] {
			ids = append(ids, a.EndpointID)
		} else {
			healthy = append(healthy, a.EndpointID)
		}
	}
	if len(healthy) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE endpoints SET consecutive_failures = 0, failing_since = NULL
			WHERE id = ANY($1) AND (consecutive_failures <> 0 OR failing_since IS NOT NULL)`, healthy); err != nil {
			return nil, fmt.Errorf("endpoint health: %w", err)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, tenant, url_display, state, consecutive_failures, failing_since
		FROM endpoints WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	eps := map[string]*health{}
	for rows.Next() {
		var id string
		h := &health{}
		if err := rows.Scan(&id, &h.tenant, &h.display, &h.State, &h.Failures, &h.FailingSince); err != nil {
			rows.Close()
			return nil, err
		}
		eps[id] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	for _, a := range attempts {
		h := eps[a.EndpointID]
		if h == nil {
			continue // endpoint deleted
		}
		h.changed = true
		var reason string
		if h.EndpointHealth, reason = rule.Observe(h.EndpointHealth, a); reason == "" {
			continue
		}
		h.disable = &schema.DisabledEndpoint{
			EndpointID: a.EndpointID, Tenant: h.tenant, DisplayURL: h.display, Reason: reason,
			Failures: h.Failures, At: a.At, Cause: a.DeliveryID + "/" + strconv.Itoa(a.Attempt),
		}
	}

	var (
		upIDs, upStates, reasons []string
		fails                    []int32
		since, disabledAt        []*time.Time
		out                      []schema.DisabledEndpoint
	)
	for _, id := range ids {
		h := eps[id]
		if h == nil || !h.changed {
			continue
		}
		upIDs = append(upIDs, id)
		upStates = append(upStates, h.State)
		fails = append(fails, int32(h.Failures))
		since = append(since, h.FailingSince)
		if h.disable != nil {
			at := h.disable.At
			reasons, disabledAt = append(reasons, h.disable.Reason), append(disabledAt, &at)
			out = append(out, *h.disable)
		} else {
			reasons, disabledAt = append(reasons, ""), append(disabledAt, nil)
		}
	}
	if len(upIDs) == 0 {
		return nil, nil
	}
	// The trigger on endpoints notifies every instance of a change; only
	// notify when the state changes, not for each failure count.
	_, err = tx.Exec(ctx, `
		UPDATE endpoints e SET
			consecutive_failures = u.f,
			failing_since = u.s,
			state = u.st,
			disabled_reason = CASE WHEN u.r <> '' THEN u.r ELSE e.disabled_reason END,
			disabled_at = COALESCE(u.d, e.disabled_at),
			updated_at = CASE WHEN u.r <> '' THEN now() ELSE e.updated_at END
		FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::timestamptz[])
			AS u(id, f, s, st, r, d)
		WHERE e.id = u.id`, upIDs, fails, since, upStates, reasons, disabledAt)
	if err != nil {
		return nil, fmt.Errorf("endpoint health: %w", err)
	}
	return out, nil
}
