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
	probes          int
	changed         bool
	change          *schema.EndpointChange
}

// updateHealth applies newly recorded attempts, in order, to their
// endpoints' health (rule.Observe decides), under a lock on their rows, and
// writes what changed. It returns the endpoints disabled now.
func updateHealth(ctx context.Context, tx pgx.Tx, attempts []schema.Attempt, rule schema.DisableRule) ([]schema.EndpointChange, error) {
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
		if a.Outcome != schema.OutcomeSucceeded || a.Probe {
			failed[a.EndpointID] = true // or probed: read and locked below
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
	rows, err := tx.Query(ctx, `SELECT id, tenant, url_display, state, consecutive_failures, failing_since,
			COALESCE(disabled_cause, ''), auto_recover, probes
		FROM endpoints WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	eps := map[string]*health{}
	for rows.Next() {
		var id string
		h := &health{}
		if err := rows.Scan(&id, &h.tenant, &h.display, &h.State, &h.Failures, &h.FailingSince,
			&h.Cause, &h.AutoRecover, &h.probes); err != nil {
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
		was := h.State
		var reason string
		h.EndpointHealth, reason = rule.Observe(h.EndpointHealth, a)
		change := &schema.EndpointChange{
			EndpointID: a.EndpointID, Tenant: h.tenant, DisplayURL: h.display, State: h.State, Reason: reason,
			Failures: h.Failures, Probes: h.probes, At: a.At, Cause: a.DeliveryID + "/" + strconv.Itoa(a.Attempt),
		}
		switch {
		case reason != "":
			h.change = change
		case was == schema.EndpointDisabled && h.State == schema.EndpointEnabled:
			change.Failures = 0
			h.change = change
		}
	}

	var (
		upIDs, upStates, reasons, causes []string
		fails                            []int32
		since, changedAt, probeAt        []*time.Time
		out                              []schema.EndpointChange
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
		causes = append(causes, h.Cause)
		var next *time.Time
		if c := h.change; c != nil {
			at := c.At
			reasons, changedAt = append(reasons, c.Reason), append(changedAt, &at)
			out = append(out, *c)
			if c.State == schema.EndpointDisabled && h.Cause == schema.DisabledByFailures {
				n := probeStart(at, rule.Probes)
				next = &n
			}
		} else {
			reasons, changedAt = append(reasons, ""), append(changedAt, nil)
		}
		probeAt = append(probeAt, next)
	}
	if len(upIDs) == 0 {
		return nil, nil
	}
	// The trigger on endpoints notifies every instance of a change; only
	// notify when the state changes, not for each failure count. A change
	// (u.d set) either disables the endpoint (its reason, cause and first
	// probe), or re-enables it (a probe succeeded: all of that cleared).
	// Without one, only a probe answered 410 changes the cause, which
	// stops the probes.
	_, err = tx.Exec(ctx, `
		UPDATE endpoints e SET
			consecutive_failures = u.f,
			failing_since = u.s,
			state = u.st,
			disabled_cause = NULLIF(u.c, ''),
			disabled_reason = CASE WHEN u.d IS NULL THEN e.disabled_reason ELSE NULLIF(u.r, '') END,
			disabled_at = CASE WHEN u.d IS NULL THEN e.disabled_at WHEN u.st = 'enabled' THEN NULL ELSE u.d END,
			probe_at = CASE WHEN u.d IS NOT NULL THEN u.p WHEN u.c = 'failures' THEN e.probe_at END,
			probes = CASE WHEN u.d IS NULL THEN e.probes ELSE 0 END,
			updated_at = CASE WHEN u.d IS NULL THEN e.updated_at ELSE now() END
		FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::timestamptz[],
				$7::text[], $8::timestamptz[])
			AS u(id, f, s, st, r, d, c, p)
		WHERE e.id = u.id`, upIDs, fails, since, upStates, reasons, changedAt, causes, probeAt)
	if err != nil {
		return nil, fmt.Errorf("endpoint health: %w", err)
	}
	return out, nil
}
