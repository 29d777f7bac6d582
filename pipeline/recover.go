package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// RecoverStore is what the Recoverer reads and writes: the jobs, the
// deliveries they re-send (see postgres.DB.RecoverBatch), and the endpoint
// whose version the tasks carry.
type RecoverStore interface {
	ClaimJob(ctx context.Context, lease time.Duration) (schema.Job, error)
	RecoverBatch(ctx context.Context, j schema.Job, limit int, endpointVersion time.Time, lease time.Duration,
		send func(context.Context, []schema.Task) error) (schema.RecoverResult, error)
	FinishJob(ctx context.Context, id, status, errMsg string) error
	Endpoint(ctx context.Context, tenant, id string) (schema.Endpoint, error)
}

// TaskQueue queues delivery tasks outside the stages; Queue is one.
type TaskQueue interface {
	Enqueue(ctx context.Context, tasks []schema.Task) error
}

// recoverBatch is how many deliveries a recovery queues at a time.
const recoverBatch = 500

// recoverQueueTimeout bounds the queueing of one batch, while its
// deliveries are locked: a Kafka that does not answer must not hold the
// rows, and a Postgres connection, for long.
const recoverQueueTimeout = 10 * time.Second

// Recoverer works recovery jobs (POST /v1/endpoints/{id}/recover): it
// queues the tasks of a job's dead deliveries again, batch by batch,
// recording the job's progress after each. Set its fields, then call Run.
type Recoverer struct {
	Store RecoverStore
	Tasks TaskQueue
	// Lease is how long a job stays with the instance working it without
	// news (default 1m): after that, another instance resumes it. Poll is
	// how often Run looks for such jobs (default 10s).
	Lease, Poll time.Duration
	Log         *slog.Logger

	once sync.Once
	wake chan struct{}
}

func (r *Recoverer) init() {
	r.once.Do(func() {
		if r.Lease == 0 {
			r.Lease = time.Minute
		}
		if r.Poll == 0 {
			r.Poll = 10 * time.Second
		}
		if r.Log == nil {
			r.Log = slog.New(slog.DiscardHandler)
		}
		r.wake = make(chan struct{}, 1)
	})
}

// Wake tells a running Run that a job was created, so that it starts the
// job now rather than at its next poll. It never blocks.
func (r *Recoverer) Wake() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works recovery jobs until ctx ends: those it is woken for at once,
// and every Poll any running job whose lease ran out, such as one left by
// an instance that died. Those resume where their progress was last
// recorded, so a few deliveries may be sent twice (receivers dedupe on
// webhook-id). Jobs run one at a time per Recoverer; run one per process.
func (r *Recoverer) Run(ctx context.Context) error {
	r.init()
	for {
		for ctx.Err() == nil {
			j, err := r.Store.ClaimJob(ctx, r.Lease)
			if errors.Is(err, schema.ErrNotFound) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					r.Log.Warn("claiming a job failed", "err", err)
				}
				break
			}
			r.runJob(ctx, j)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-time.After(r.Poll):
		}
	}
}

// runJob queues a recovery job's deliveries in batches, recording its
// progress after each. Deliveries whose events are gone count as failed.
// When ctx ends, or an outage outlasts a few retries, the job stays
// running: its lease runs out and a runner resumes it. Only what cannot
// change by waiting (a deleted endpoint, data the store refuses) fails it.
func (r *Recoverer) runJob(ctx context.Context, j schema.Job) {
	log := r.Log.With("job_id", j.ID, "endpoint_id", j.EndpointID)
	fail := func(msg string, err error) {
		if ctx.Err() != nil {
			return
		}
		log.Error("recovery job failed", "err", err)
		if err := r.Store.FinishJob(context.WithoutCancel(ctx), j.ID, schema.JobFailed, msg); err != nil {
			log.Error("recording a failed job", "err", err)
		}
	}
	// An outage (Postgres or Kafka down past a few retries) does not fail
	// the job: it stays running, its lease runs out, and a runner resumes
	// it from its last recorded progress once the outage is over.
	wait := func(op string, err error) {
		if ctx.Err() == nil {
			log.Warn("recovery job waits for an outage to end; it resumes when its lease runs out", "op", op, "err", err,
				"lease", r.Lease)
		}
	}
	ep, err := r.Store.Endpoint(ctx, j.Tenant, j.EndpointID)
	if errors.Is(err, schema.ErrNotFound) {
		fail("the endpoint was deleted", err)
		return
	}
	if err != nil {
		wait("reading the endpoint", err)
		return
	}
	for {
		// One batch is one transaction: its dead deliveries locked, their
		// tasks queued, their state and the job's progress recorded, or
		// nothing (see postgres.DB.RecoverBatch).
		var (
			res      schema.RecoverResult
			queueErr error
		)
		err := withRetries(ctx, func() (err error) {
			queueErr = nil
			res, err = r.Store.RecoverBatch(ctx, j, recoverBatch, ep.UpdatedAt, r.Lease,
				func(ctx context.Context, tasks []schema.Task) error {
					ctx, cancel := context.WithTimeout(ctx, recoverQueueTimeout)
					defer cancel()
					queueErr = r.Tasks.Enqueue(ctx, tasks)
					return queueErr
				})
			return err
		})
		switch {
		case errors.Is(err, schema.ErrInvalidData):
			fail("reading deliveries failed: the store refused the job's data", err)
			return
		case err != nil && queueErr != nil:
			wait("queueing deliveries", err)
			return
		case err != nil:
			wait("reading deliveries", err)
			return
		case res.Cursor == nil:
			if err := r.Store.FinishJob(ctx, j.ID, schema.JobDone, ""); err != nil && ctx.Err() == nil {
				log.Error("recording a finished job", "err", err)
			}
			return
		}
		j.Cursor = res.Cursor
	}
}

// withRetries calls fn up to 4 times, waiting 0.5s, 1s, 2s between calls.
func withRetries(ctx context.Context, fn func() error) error {
	wait := 500 * time.Millisecond
	for i := 0; ; i++ {
		err := fn()
		if err == nil || i == 3 || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}
