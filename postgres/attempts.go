package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// WriteAttempts records a batch of attempt outcomes in one transaction: a
// history row for every attempt that was sent (idempotent on delivery id and
// attempt number, so a batch written twice after a crash counts once), the
// state of each delivery after its latest outcome, and the health of each
// endpoint: its consecutive failures, and whether the rule disables it now.
// Endpoints it disables, or re-enables after a probe, are passed to
// onChange (when not nil) before the transaction commits; an error from
// onChange rolls everything back.
func (db *DB) WriteAttempts(ctx context.Context, batch []schema.Attempt, rule schema.DisableRule,
	onChange func(context.Context, []schema.EndpointChange) error) error {
	if len(batch) == 0 {
		return nil
	}
	var (
		dIDs, tenants, eps, outcomes, errs, bodies []string
		nums, codes                                []int32
		lat                                        []int64
		trunc, b64                                 []bool
		ats, dAts                                  []time.Time
	)
	latest := make(map[string]int, len(batch)) // delivery id → index in batch
	for i, a := range batch {
		if j, ok := latest[a.DeliveryID]; !ok || !a.At.Before(batch[j].At) {
			latest[a.DeliveryID] = i
		}
		if !a.Sent {
			continue
		}
		dIDs = append(dIDs, a.DeliveryID)
		nums = append(nums, int32(a.Attempt))
		tenants = append(tenants, a.Tenant)
		eps = append(eps, a.EndpointID)
		outcomes = append(outcomes, string(a.Outcome))
		codes = append(codes, int32(a.StatusCode))
		errs = append(errs, a.Error)
		lat = append(lat, a.LatencyMicros)
		bodies = append(bodies, a.ResponseBody)
		trunc = append(trunc, a.Truncated)
		b64 = append(b64, a.ResponseBase64)
		ats = append(ats, a.At)
		dAts = append(dAts, a.EventCreatedAt) // the delivery's created_at, its partition key
	}

	var (
		ids, dTenants, dEps, evIDs, evTypes, states, lastErrs []string
		oKeys, waits                                          []string
		seqs                                                  []int64
		counts, lastCodes                                     []int32
		nexts                                                 []*time.Time
		createdAt, updatedAt                                  []time.Time
	)
	for id, i := range latest {
		a := batch[i]
		made := a.Attempt
		if !a.Sent {
			made = a.Attempt - 1
		}
		ids = append(ids, id)
		dTenants = append(dTenants, a.Tenant)
		dEps = append(dEps, a.EndpointID)
		evIDs = append(evIDs, a.EventID)
		evTypes = append(evTypes, a.EventType)
		states = append(states, string(a.Outcome))
		counts = append(counts, int32(made))
		lastCodes = append(lastCodes, int32(a.StatusCode))
		lastErrs = append(lastErrs, a.Error)
		nexts = append(nexts, a.NextAttemptAt)
		createdAt = append(createdAt, a.EventCreatedAt)
		updatedAt = append(updatedAt, a.At)
		oKeys, seqs, waits = append(oKeys, a.OrderingKey), append(seqs, a.Seq), append(waits, a.WaitingFor)
	}

	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		fresh := map[attemptKey]bool{}
		if len(dIDs) > 0 {
			rows, err := tx.Query(ctx, `
				INSERT INTO attempts (delivery_id, attempt, tenant, endpoint_id, outcome, status_code,
					error, latency_us, response_body, response_truncated, attempted_at, response_body_base64,
					delivery_created_at)
				SELECT d, n, t, e, o, NULLIF(c, 0), NULLIF(er, ''), l, NULLIF(b, ''), tr, at, b64, dat
				FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::int[],
					$7::text[], $8::bigint[], $9::text[], $10::bool[], $11::timestamptz[], $12::bool[],
					$13::timestamptz[])
					AS u(d, n, t, e, o, c, er, l, b, tr, at, b64, dat)
				ON CONFLICT (delivery_id, attempt, attempted_at) DO NOTHING
				RETURNING delivery_id, attempt`,
				dIDs, nums, tenants, eps, outcomes, codes, errs, lat, bodies, trunc, ats, b64, dAts)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k attemptKey
				if err := rows.Scan(&k.delivery, &k.attempt); err != nil {
					rows.Close()
					return err
				}
				fresh[k] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO deliveries AS d (id, tenant, endpoint_id, event_id, event_type, status, attempts,
				last_status_code, last_error, next_attempt_at, created_at, updated_at, ordering_key, seq, waiting_for)
			SELECT i, t, e, ev, ty, s, n, NULLIF(c, 0), NULLIF(er, ''), nx, ca, ua, NULLIF(ok, ''), NULLIF(sq, 0), NULLIF(w, '')
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
				$8::int[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[],
				$13::text[], $14::bigint[], $15::text[])
				AS u(i, t, e, ev, ty, s, n, c, er, nx, ca, ua, ok, sq, w)
			ON CONFLICT (id, created_at) DO UPDATE SET
				ordering_key = COALESCE(EXCLUDED.ordering_key, d.ordering_key),
				seq = COALESCE(EXCLUDED.seq, d.seq),
				waiting_for = EXCLUDED.waiting_for,
				status = EXCLUDED.status,
				attempts = GREATEST(d.attempts, EXCLUDED.attempts),
				last_status_code = COALESCE(EXCLUDED.last_status_code, d.last_status_code),
				last_error = EXCLUDED.last_error,
				next_attempt_at = EXCLUDED.next_attempt_at,
				updated_at = EXCLUDED.updated_at
			WHERE d.updated_at <= EXCLUDED.updated_at`,
			ids, dTenants, dEps, evIDs, evTypes, states, counts, lastCodes, lastErrs, nexts, createdAt, updatedAt,
			oKeys, seqs, waits)
		if err != nil {
			return err
		}
		// Only attempts recorded now count: a batch written again after a
		// crash does not count its failures twice.
		var counted []schema.Attempt
		for _, a := range batch {
			if a.Sent && fresh[attemptKey{a.DeliveryID, int32(a.Attempt)}] {
				counted = append(counted, a)
			}
		}
		changes, err := updateHealth(ctx, tx, counted, rule)
		if err != nil || len(changes) == 0 || onChange == nil {
			return err
		}
		return onChange(ctx, changes)
	})
	if err != nil {
		return fmt.Errorf("postgres: write attempts: %w", dataError(err))
	}
	return nil
}

type attemptKey struct {
	delivery string
	attempt  int32
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
