package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// JobStore holds the recovery jobs.
type JobStore interface {
	CreateRecoverJob(ctx context.Context, id, tenant, endpointID string, since, until time.Time) (schema.Job, error)
	Job(ctx context.Context, tenant, id string) (schema.Job, error)
	ClaimJob(ctx context.Context, lease time.Duration) (schema.Job, error)
	RecoverBatch(ctx context.Context, j schema.Job, limit int, endpointVersion time.Time, lease time.Duration,
		send func(context.Context, []schema.Task) error) (schema.RecoverResult, error)
	FinishJob(ctx context.Context, id, status, errMsg string) error
}

// recoverBatch is how many deliveries a recovery queues at a time.
const recoverBatch = 500

type recoverRequest struct {
	Since *dateTime `json:"since"`
	Until *dateTime `json:"until"`
}

type jobJSON struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	EndpointID string     `json:"endpoint_id"`
	Since      time.Time  `json:"since"`
	Until      time.Time  `json:"until"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Failed     int        `json:"failed"`
	Skipped    int        `json:"skipped"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

func toJobJSON(j schema.Job) jobJSON {
	return jobJSON{ID: j.ID, Kind: j.Kind, EndpointID: j.EndpointID, Since: j.Since, Until: j.Until, Status: j.Status,
		Total: j.Total, Done: j.Done, Failed: j.Failed, Skipped: j.Skipped, Error: j.Error, CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt}
}

// recoverEndpoint starts a job that sends again every dead delivery of the
// endpoint created in [since, until) (until defaults to now), oldest first;
// those still retrying are skipped, their next attempt being pending (see
// retryDelivery). It answers 202 with the job at once; GET /v1/jobs/{id}
// shows its progress.
func (s *Server) recoverEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	var req recoverRequest
	if p := decode(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	now := time.Now()
	switch {
	case req.Since == nil:
		writeProblem(w, fieldProblem("since", "is required: the RFC 3339 time from which to recover"))
		return
	case req.Since.After(now):
		writeProblem(w, fieldProblem("since", "must not be in the future"))
		return
	case req.Until != nil && !req.Until.After(req.Since.Time):
		writeProblem(w, fieldProblem("until", "must be after since"))
		return
	}
	until := now
	if req.Until != nil && req.Until.Before(now) {
		until = req.Until.Time
	}
	j, err := s.Store.CreateRecoverJob(r.Context(), schema.NewID("job_"), tenant, r.PathValue("id"), req.Since.Time, until)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return
	}
	if err != nil {
		s.internal(w, r, "recover endpoint", err)
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, toJobJSON(j))
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, tenant string) {
	j, err := s.Store.Job(r.Context(), tenant, r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such job"))
		return
	}
	if err != nil {
		s.internal(w, r, "get job", err)
		return
	}
	writeJSON(w, http.StatusOK, toJobJSON(j))
}

// RunJobs works recovery jobs until ctx ends: those created through this
// server at once, and every JobPoll any running job whose lease ran out,
// such as one left by an instance that died. Those resume where their
// progress was last recorded, so a few deliveries may be sent twice
// (receivers dedupe on webhook-id). Jobs run one at a time per server.
func (s *Server) RunJobs(ctx context.Context) error {
	s.init()
	for {
		for ctx.Err() == nil {
			j, err := s.Store.ClaimJob(ctx, s.JobLease)
			if errors.Is(err, schema.ErrNotFound) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Warn("claiming a job failed", "err", err)
				}
				break
			}
			s.runJob(ctx, j)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-time.After(s.JobPoll):
		}
	}
}

// runJob queues a recovery job's deliveries in batches, recording its
// progress after each. Deliveries whose events are gone count as failed.
// When ctx ends, or an outage outlasts a few retries, the job stays
// running: its lease runs out and a runner resumes it. Only what cannot
// change by waiting (a deleted endpoint, data the store refuses) fails it.
func (s *Server) runJob(ctx context.Context, j schema.Job) {
	log := s.Log.With("job_id", j.ID, "endpoint_id", j.EndpointID)
	fail := func(msg string, err error) {
		if ctx.Err() != nil {
			return
		}
		log.Error("recovery job failed", "err", err)
		if err := s.Store.FinishJob(context.WithoutCancel(ctx), j.ID, schema.JobFailed, msg); err != nil {
			log.Error("recording a failed job", "err", err)
		}
	}
	// An outage (Postgres or Kafka down past a few retries) does not fail
	// the job: it stays running, its lease runs out, and a runner resumes
	// it from its last recorded progress once the outage is over.
	wait := func(op string, err error) {
		if ctx.Err() == nil {
			log.Warn("recovery job waits for an outage to end; it resumes when its lease runs out", "op", op, "err", err,
				"lease", s.JobLease)
		}
	}
	ep, err := s.Store.Endpoint(ctx, j.Tenant, j.EndpointID)
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
		err := retry(ctx, func() (err error) {
			queueErr = nil
			res, err = s.Store.RecoverBatch(ctx, j, recoverBatch, ep.UpdatedAt, s.JobLease,
				func(ctx context.Context, tasks []schema.Task) error {
					ctx, cancel := context.WithTimeout(ctx, queueTimeout)
					defer cancel()
					queueErr = s.Tasks.Enqueue(ctx, tasks)
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
			if err := s.Store.FinishJob(ctx, j.ID, schema.JobDone, ""); err != nil && ctx.Err() == nil {
				log.Error("recording a finished job", "err", err)
			}
			return
		}
		j.Cursor = res.Cursor
	}
}

// retry calls fn up to 4 times, waiting 0.5s, 1s, 2s between calls.
func retry(ctx context.Context, fn func() error) error {
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
