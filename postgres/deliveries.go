package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// deliveryColumns are the columns scanDelivery reads, from deliveries d.
const deliveryColumns = `d.id, d.tenant, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts,
	COALESCE(d.last_status_code, 0), COALESCE(d.last_error, ''), d.next_attempt_at, d.created_at, d.updated_at,
	COALESCE(d.ordering_key, ''), COALESCE(d.seq, 0), COALESCE(d.waiting_for, '')`

func scanDelivery(r pgx.Row) (schema.Delivery, error) {
	var d schema.Delivery
	err := r.Scan(&d.ID, &d.Tenant, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
		&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt,
		&d.OrderingKey, &d.Sequence, &d.WaitingFor)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, schema.ErrNotFound
	}
	return d, err
}

// Deliveries lists deliveries matching the filter, newest first.
//
// The statement holds only the conditions of the filter's fields, so each
// shape of filter (a tenant's newest, by endpoint, by status, a page
// after a cursor, …) is its own prepared statement with its own plan: a
// catch-all statement (each condition true when its parameter is empty)
// shares one plan among them all, and once Postgres switches it to a
// generic plan (after five executions) that plan can neither pick the
// index of the filter nor prune partitions. Every condition on created_at, the partition key,
// is a plain comparison so that the partitions out of range are pruned:
// a cursor's (created_at, id) < (t, id) also says created_at <= t. The
// LIMIT is a literal (sqlLimit).
func (db *DB) Deliveries(ctx context.Context, f schema.DeliveryFilter) ([]schema.Delivery, error) {
	sql, args := deliveriesQuery(f)
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: deliveries: %w", err)
	}
	defer rows.Close()
	var out []schema.Delivery
	for len(out) < f.Limit && rows.Next() {
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

// deliveriesQuery is the statement of a filter and its arguments.
func deliveriesQuery(f schema.DeliveryFilter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.AllTenants {
		conds = append(conds, "d.tenant = "+arg(f.Tenant))
	}
	if f.ID != "" {
		conds = append(conds, "d.id = "+arg(f.ID))
	}
	if f.EndpointID != "" {
		conds = append(conds, "d.endpoint_id = "+arg(f.EndpointID))
	}
	if f.EventID != "" {
		conds = append(conds, "d.event_id = "+arg(f.EventID))
	}
	if f.Status != "" {
		c := "d.status = " + arg(f.Status)
		if f.Status != string(schema.OutcomeSucceeded) {
			// Implies the predicate of deliveries_status_idx, which a
			// generic plan cannot read from a parameter.
			c += " AND d.status <> 'succeeded'"
		}
		conds = append(conds, c)
	}
	if f.EventType != "" {
		conds = append(conds, "d.event_type = "+arg(f.EventType))
	}
	if f.Before != nil {
		at := arg(f.Before.CreatedAt)
		conds = append(conds, "d.created_at <= "+at, "(d.created_at, d.id) < ("+at+", "+arg(f.Before.ID)+")")
	}
	if f.Since != nil {
		conds = append(conds, "d.created_at >= "+arg(*f.Since))
	}
	if f.Until != nil {
		conds = append(conds, "d.created_at < "+arg(*f.Until))
	}
	where := ""
	if len(conds) > 0 {
		where = "\n\tWHERE " + strings.Join(conds, "\n\t\tAND ")
	}
	return "SELECT " + deliveryColumns + "\n\tFROM deliveries d" + where +
		"\n\tORDER BY d.created_at DESC, d.id DESC\n\tLIMIT " + sqlLimit(f.Limit), args
}

// sqlLimit is the LIMIT of a history statement that returns at most n
// rows, as a literal: n rounded up to a power of two (Deliveries and
// AttemptFeed drop the rows past n). A generic plan does not know a LIMIT given as a parameter,
// takes it for a tenth of the rows, and costs more than the custom plans,
// so Postgres plans every execution anew (about 2 ms for 36 partitions);
// with the literal it keeps the generic plan of a statement that cannot
// prune, and the page sizes of the API (1 to 100) make eight statements
// per filter shape at most.
func sqlLimit(n int) string {
	if n <= 0 {
		return "0"
	}
	l := 1
	for l < n {
		l *= 2
	}
	return strconv.Itoa(l)
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

// replayBatch is how many parked deliveries ReplayParked queues in one
// transaction.
const replayBatch = 500

// ReplayParked queues an endpoint's parked deliveries again, oldest first,
// and returns how many. Each batch is one transaction: it locks the batch
// (skipping deliveries another replay holds), hands send the tasks of
// their next attempts (original delivery ids, the events as stored,
// version as the endpoint's version), and once send returns nil shows
// them as retrying, due now. Two replays of one endpoint never queue a
// delivery twice. If send fails, the batches before it stay queued and
// the rest parked. send runs inside the transaction, so it must not use
// this DB.
func (db *DB) ReplayParked(ctx context.Context, endpointID string, version time.Time,
	send func(context.Context, []schema.Task) error) (int, error) {
	total := 0
	for {
		n, err := db.replayBatch(ctx, endpointID, version, send)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (db *DB) replayBatch(ctx context.Context, endpointID string, version time.Time,
	send func(context.Context, []schema.Task) error) (int, error) {
	var n int
	limit := replayBatch
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT d.id, d.attempts, e.tenant, e.id, e.type, e.data::text, e.created_at,
				COALESCE(d.ordering_key, ''), COALESCE(d.seq, 0), e.cloudevent::text
			FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
			WHERE d.endpoint_id = $1 AND d.status = 'parked'
			ORDER BY d.created_at, d.id
			LIMIT $2
			FOR UPDATE OF d SKIP LOCKED`, endpointID, limit)
		if err != nil {
			return err
		}
		var (
			tasks []schema.Task
			ids   []string
		)
		for rows.Next() {
			var (
				t    = schema.Task{V: schema.Version, EndpointID: endpointID, EndpointVersion: version}
				made int
				data string
				key  string
				seq  int64
				ce   *string
			)
			if err := rows.Scan(&t.DeliveryID, &made, &t.Event.Tenant, &t.Event.ID, &t.Event.Type,
				&data, &t.Event.CreatedAt, &key, &seq, &ce); err != nil {
				rows.Close()
				return err
			}
			if err := setCloudEvent(&t.Event, ce); err != nil {
				rows.Close()
				return err
			}
			t.Attempt, t.Event.Data = made+1, []byte(data)
			if key != "" && seq > 0 {
				t.Order = &schema.TaskOrder{Key: key, Seq: seq}
			}
			tasks = append(tasks, t)
			ids = append(ids, t.DeliveryID)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(tasks) == 0 {
			return err
		}
		if err := send(ctx, tasks); err != nil {
			return err
		}
		// updated_at stays: it orders outcomes by the deliverers' clocks,
		// and the replay's outcome must win whatever this server's clock
		// says.
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'retrying', next_attempt_at = now()
			WHERE id = ANY($1)`, ids); err != nil {
			return err
		}
		n = len(tasks)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: replay parked: %w", dataError(err))
	}
	return n, nil
}

// StrandedEndpoints returns up to limit endpoints that are enabled and not
// paused but still have parked deliveries, and that have not changed for
// settled: those a probe re-enabled, or whose deliverer parked a task
// while its copy of the endpoint was older than a change that made it
// sendable. Those changed more recently are left to whoever changed them
// (the API replays what it enables or resumes).
func (db *DB) StrandedEndpoints(ctx context.Context, settled time.Duration, limit int) ([]schema.Endpoint, error) {
	return db.queryEndpoints(ctx, false, `SELECT `+endpointColumns+` FROM endpoints ep
		WHERE ep.state = 'enabled' AND (ep.paused_at IS NULL OR ep.paused_until <= now())
			AND ep.updated_at < now() - $2::interval
			AND EXISTS (SELECT 1 FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
				WHERE d.endpoint_id = ep.id AND d.status = 'parked')
		ORDER BY ep.id LIMIT $1`, limit, settled)
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
			ce      *string
		)
		row := tx.QueryRow(ctx, `
			SELECT `+deliveryColumns+`, e.type, e.data::text, e.created_at, ep.updated_at, e.cloudevent::text
			FROM deliveries d
				LEFT JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
				LEFT JOIN endpoints ep ON ep.tenant = d.tenant AND ep.id = d.endpoint_id
			WHERE d.tenant = $1 AND d.id = $2
			FOR UPDATE OF d`, tenant, deliveryID)
		err = row.Scan(&d.ID, &d.Tenant, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
			&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt,
			&d.OrderingKey, &d.Sequence, &d.WaitingFor, &evType, &data, &evAt, &version, &ce)
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
		if err := setCloudEvent(&task.Event, ce); err != nil {
			return err
		}
		if d.Sequence > 0 && d.OrderingKey != "" {
			task.Order = &schema.TaskOrder{Key: d.OrderingKey, Seq: d.Sequence}
		}
		if err := send(ctx, task); err != nil {
			return err
		}
		// updated_at stays: it orders outcomes by the deliverers' clocks,
		// and the attempt's outcome must win whatever this clock says.
		d, err = scanDelivery(tx.QueryRow(ctx, `UPDATE deliveries d SET status = 'retrying', next_attempt_at = now()
			WHERE id = $1 AND created_at = $2 RETURNING `+deliveryColumns, d.ID, d.CreatedAt))
		return err
	})
	if err == nil || errors.Is(err, schema.ErrNotFound) || errors.Is(err, schema.ErrRetrying) || errors.Is(err, schema.ErrEventGone) ||
		errors.Is(err, schema.ErrEndpointGone) {
		return d, err
	}
	return d, fmt.Errorf("postgres: retry delivery: %w", err)
}
