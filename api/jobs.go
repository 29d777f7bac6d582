package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// JobStore records recovery jobs; a worker (pipeline.Recoverer) works
// them.
type JobStore interface {
	CreateRecoverJob(ctx context.Context, id, tenant, endpointID string, since, until time.Time) (schema.Job, error)
	Job(ctx context.Context, tenant, id string) (schema.Job, error)
}

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
	if s.JobCreated != nil {
		s.JobCreated()
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
