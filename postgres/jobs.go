package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

const jobColumns = `id, tenant, kind, endpoint_id, since, until, status, total, done, failed, skipped,
	COALESCE(error, ''), cursor_at, COALESCE(cursor_id, ''), created_at, updated_at, finished_at`

func scanJob(r pgx.Row) (schema.Job, error) {
	var (
		j   schema.Job
		at  *time.Time
		cid string
	)
	err := r.Scan(&j.ID, &j.Tenant, &j.Kind, &j.EndpointID, &j.Since, &j.Until, &j.Status, &j.Total, &j.Done,
		&j.Failed, &j.Skipped, &j.Error, &at, &cid, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, schema.ErrNotFound
	}
	if at != nil {
		j.Cursor = &schema.Cursor{CreatedAt: *at, ID: cid}
	}
	return j, err
}

// recoverable is the SQL condition on deliveries d that a recovery re-sends.
const recoverable = `d.endpoint_id = $1 AND d.status IN ('retrying', 'dead') AND d.created_at >= $2 AND d.created_at < $3`

// CreateRecoverJob records a job re-sending the deliveries of a tenant's
// endpoint that are retrying or dead and were created in [since, until),
// with their count as its total. schema.ErrNotFound when the endpoint is
// not the tenant's. The job has no lease: the first runner to look takes it.
func (db *DB) CreateRecoverJob(ctx context.Context, id, tenant, endpointID string, since, until time.Time) (schema.Job, error) {
	var j schema.Job
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE tenant = $1 AND id = $2`, tenant, endpointID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return schema.ErrNotFound
		}
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `INSERT INTO jobs (id, tenant, kind, endpoint_id, since, until, total)
			SELECT $4, $5, $6, $1, $2, $3, count(*) FROM deliveries d WHERE `+recoverable+`
			RETURNING `+jobColumns, endpointID, since, until, id, tenant, schema.JobRecover))
		return err
	})
	err = wrapErr("create job", err)
	return j, err
}

// Job returns one job of a tenant.
func (db *DB) Job(ctx context.Context, tenant, id string) (schema.Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE tenant = $1 AND id = $2`, tenant, id))
	err = wrapErr("job", err)
	return j, err
}

// ClaimJob takes the oldest running job whose lease has run out (or that
// never had one) and leases it for lease. schema.ErrNotFound when there is
// none.
func (db *DB) ClaimJob(ctx context.Context, lease time.Duration) (schema.Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, `UPDATE jobs SET lease_until = now() + $1::interval
		WHERE id = (SELECT id FROM jobs WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now())
			ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, lease))
	err = wrapErr("claim job", err)
	return j, err
}

// RecoverBatch works the next batch of a recovery job, up to limit of the
// deliveries it re-sends after its cursor, oldest first, in one
// transaction: it locks those that are dead, hands send the tasks of their
// next attempts (the events as stored, endpointVersion as the endpoint's
// version), shows them as retrying, and records the job's progress with a
// lease renewed for lease. Deliveries still retrying are skipped: their
// next attempt is pending, and a second task would start a second chain of
// attempts with the same numbers (see RetryDelivery, which it excludes).
// Those whose event is gone count as failed. If send fails, nothing
// changed. send runs inside the transaction, so it must not use this DB.
func (db *DB) RecoverBatch(ctx context.Context, j schema.Job, limit int, endpointVersion time.Time, lease time.Duration,
	send func(context.Context, []schema.Task) error) (schema.RecoverResult, error) {
	var res schema.RecoverResult
	var afterAt *time.Time
	var afterID string
	if j.Cursor != nil {
		afterAt, afterID = &j.Cursor.CreatedAt, j.Cursor.ID
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		res = schema.RecoverResult{}
		rows, err := tx.Query(ctx, `
			SELECT d.id, d.status, d.created_at, e.id IS NOT NULL
			FROM deliveries d LEFT JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
			WHERE `+recoverable+` AND ($4::timestamptz IS NULL OR (d.created_at, d.id) > ($4, $5))
			ORDER BY d.created_at, d.id
			LIMIT $6`, j.EndpointID, j.Since, j.Until, afterAt, afterID, limit)
		if err != nil {
			return err
		}
		var dead []string
		for rows.Next() {
			var (
				c         schema.Cursor
				status    string
				eventKept bool
			)
			if err := rows.Scan(&c.ID, &status, &c.CreatedAt, &eventKept); err != nil {
				rows.Close()
				return err
			}
			res.Cursor = &c
			switch {
			case status != string(schema.OutcomeDead):
				res.Skipped++
			case !eventKept:
				res.Failed++
			default:
				dead = append(dead, c.ID)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || res.Cursor == nil {
			return err
		}
		// Lock the dead ones and read them again: a manual retry may
		// have sent one meanwhile (or the sink recorded its outcome).
		rows, err = tx.Query(ctx, `
			SELECT d.id, d.attempts, d.tenant, d.event_id, e.type, e.data::text, e.created_at,
				COALESCE(d.ordering_key, ''), COALESCE(d.seq, 0), e.cloudevent::text
			FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
			WHERE d.id = ANY($1) AND d.status = 'dead' AND d.created_at >= $2 AND d.created_at < $3
			ORDER BY d.created_at, d.id
			FOR UPDATE OF d`, dead, j.Since, j.Until)
		if err != nil {
			return err
		}
		var (
			tasks []schema.Task
			ids   []string
		)
		for rows.Next() {
			var (
				t    = schema.Task{V: schema.Version, EndpointID: j.EndpointID, EndpointVersion: endpointVersion}
				made int
				data string
				key  string
				seq  int64
				ce   *string
			)
			if err := rows.Scan(&t.DeliveryID, &made, &t.Event.Tenant, &t.Event.ID, &t.Event.Type, &data, &t.Event.CreatedAt,
				&key, &seq, &ce); err != nil {
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
		if err := rows.Err(); err != nil {
			return err
		}
		res.Done, res.Skipped = len(tasks), res.Skipped+len(dead)-len(tasks)
		if len(tasks) > 0 {
			if err := send(ctx, tasks); err != nil {
				return err
			}
			// updated_at stays, as in RetryDelivery.
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'retrying', next_attempt_at = now()
				WHERE id = ANY($1) AND created_at >= $2 AND created_at < $3`, ids, j.Since, j.Until); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE jobs SET done = done + $2, failed = failed + $3, skipped = skipped + $4,
			cursor_at = $5, cursor_id = $6, lease_until = now() + $7::interval, updated_at = now() WHERE id = $1`,
			j.ID, res.Done, res.Failed, res.Skipped, res.Cursor.CreatedAt, res.Cursor.ID, lease)
		return err
	})
	if err != nil {
		return schema.RecoverResult{}, fmt.Errorf("postgres: recover batch: %w", dataError(err))
	}
	return res, nil
}

// FinishJob ends a job as done or failed (with the error shown to users).
func (db *DB) FinishJob(ctx context.Context, id, status, errMsg string) error {
	_, err := db.pool.Exec(ctx, `UPDATE jobs SET status = $2, error = NULLIF($3, ''), lease_until = NULL,
		updated_at = now(), finished_at = now() WHERE id = $1`, id, status, errMsg)
	if err != nil {
		return fmt.Errorf("postgres: finish job: %w", err)
	}
	return nil
}
