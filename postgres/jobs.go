package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// Job states.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobRecover is the kind of job that re-sends an endpoint's failed
// deliveries.
const JobRecover = "recover"

// Job is a long operation and its progress.
type Job struct {
	ID         string
	Tenant     string
	Kind       string
	EndpointID string
	Since      time.Time
	Until      time.Time
	Status     string
	Total      int
	Done       int
	Failed     int
	Error      string
	Cursor     *DeliveryCursor // the last delivery handled
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

const jobColumns = `id, tenant, kind, endpoint_id, since, until, status, total, done, failed,
	COALESCE(error, ''), cursor_at, COALESCE(cursor_id, ''), created_at, updated_at, finished_at`

func scanJob(r pgx.Row) (Job, error) {
	var (
		j   Job
		at  *time.Time
		cid string
	)
	err := r.Scan(&j.ID, &j.Tenant, &j.Kind, &j.EndpointID, &j.Since, &j.Until, &j.Status, &j.Total, &j.Done,
		&j.Failed, &j.Error, &at, &cid, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, ErrNotFound
	}
	if at != nil {
		j.Cursor = &DeliveryCursor{CreatedAt: *at, ID: cid}
	}
	return j, err
}

// recoverable is the SQL condition on deliveries d that a recovery re-sends.
const recoverable = `d.endpoint_id = $1 AND d.status IN ('retrying', 'dead') AND d.created_at >= $2 AND d.created_at < $3`

// CreateRecoverJob records a job re-sending the deliveries of a tenant's
// endpoint that are retrying or dead and were created in [since, until),
// with their count as its total. ErrNotFound when the endpoint is not the
// tenant's. The job has no lease: the first runner to look takes it.
func (db *DB) CreateRecoverJob(ctx context.Context, id, tenant, endpointID string, since, until time.Time) (Job, error) {
	var j Job
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE tenant = $1 AND id = $2`, tenant, endpointID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `INSERT INTO jobs (id, tenant, kind, endpoint_id, since, until, total)
			SELECT $4, $5, $6, $1, $2, $3, count(*) FROM deliveries d WHERE `+recoverable+`
			RETURNING `+jobColumns, endpointID, since, until, id, tenant, JobRecover))
		return err
	})
	err = wrapErr("create job", err)
	return j, err
}

// Job returns one job of a tenant.
func (db *DB) Job(ctx context.Context, tenant, id string) (Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE tenant = $1 AND id = $2`, tenant, id))
	err = wrapErr("job", err)
	return j, err
}

// ClaimJob takes the oldest running job whose lease has run out (or that
// never had one) and leases it for lease. ErrNotFound when there is none.
func (db *DB) ClaimJob(ctx context.Context, lease time.Duration) (Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, `UPDATE jobs SET lease_until = now() + $1::interval
		WHERE id = (SELECT id FROM jobs WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now())
			ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, lease))
	err = wrapErr("claim job", err)
	return j, err
}

// RecoverItem is one delivery a recovery job re-sends: the task of its
// next attempt, and where it stands in the job's order.
type RecoverItem struct {
	Task   schema.Task
	Cursor DeliveryCursor
	// EventGone is set when the delivery's event is no longer stored: it
	// cannot be sent again.
	EventGone bool
}

// RecoverBatch returns up to limit deliveries a recovery job re-sends after
// its cursor, oldest first.
func (db *DB) RecoverBatch(ctx context.Context, j Job, limit int) ([]RecoverItem, error) {
	var afterAt *time.Time
	var afterID string
	if j.Cursor != nil {
		afterAt, afterID = &j.Cursor.CreatedAt, j.Cursor.ID
	}
	rows, err := db.pool.Query(ctx, `
		SELECT d.id, d.attempts, d.created_at, d.tenant, d.event_id, COALESCE(e.type, ''), e.data::text, e.created_at
		FROM deliveries d LEFT JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
		WHERE `+recoverable+` AND ($4::timestamptz IS NULL OR (d.created_at, d.id) > ($4, $5))
		ORDER BY d.created_at, d.id
		LIMIT $6`, j.EndpointID, j.Since, j.Until, afterAt, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: recover batch: %w", err)
	}
	defer rows.Close()
	var out []RecoverItem
	for rows.Next() {
		var (
			it   RecoverItem
			made int
			data *string
			evAt *time.Time
		)
		t := &it.Task
		if err := rows.Scan(&t.DeliveryID, &made, &it.Cursor.CreatedAt, &t.Event.Tenant, &t.Event.ID, &t.Event.Type,
			&data, &evAt); err != nil {
			return nil, fmt.Errorf("postgres: recover batch: %w", err)
		}
		t.V, t.EndpointID, t.Attempt = schema.Version, j.EndpointID, made+1
		it.Cursor.ID = t.DeliveryID
		if data == nil {
			it.EventGone = true
		} else {
			t.Event.Data, t.Event.CreatedAt = []byte(*data), *evAt
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: recover batch: %w", err)
	}
	return out, nil
}

// JobProgress records a job's progress after a batch: the deliveries done
// and failed in it, the cursor of its last delivery, and a renewed lease.
func (db *DB) JobProgress(ctx context.Context, id string, done, failed int, cursor DeliveryCursor, lease time.Duration) error {
	_, err := db.pool.Exec(ctx, `UPDATE jobs SET done = done + $2, failed = failed + $3, cursor_at = $4, cursor_id = $5,
		lease_until = now() + $6::interval, updated_at = now() WHERE id = $1`, id, done, failed, cursor.CreatedAt, cursor.ID, lease)
	if err != nil {
		return fmt.Errorf("postgres: job progress: %w", err)
	}
	return nil
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
