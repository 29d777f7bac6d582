package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// TaskQueue queues delivery tasks (replays, manual retries).
type TaskQueue interface {
	Enqueue(ctx context.Context, tasks []schema.Task) error
}

type stateResponse struct {
	endpointJSON
	// Replayed counts the parked deliveries queued again by an enable.
	Replayed int `json:"replayed"`
}

// enableEndpoint enables an endpoint and replays its parked deliveries,
// oldest first, with their original ids. Enabling an enabled endpoint
// replays whatever is still parked.
func (s *Server) enableEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	ep, ok := s.setState(w, r, tenant, true, "")
	if !ok {
		return
	}
	n, err := s.replayParked(r.Context(), ep)
	if err != nil {
		s.Log.Error("replay of parked deliveries failed", "endpoint_id", ep.ID, "replayed", n, "err", err)
		writeProblem(w, problem(http.StatusServiceUnavailable,
			"endpoint enabled, but replaying its parked deliveries stopped; enable it again to replay the rest"))
		return
	}
	writeJSON(w, http.StatusOK, stateResponse{endpointJSON: toEndpointJSON(ep), Replayed: n})
}

// disableEndpoint disables an endpoint by hand: its deliveries are parked
// until it is enabled again.
func (s *Server) disableEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	ep, ok := s.setState(w, r, tenant, false, "disabled through the API")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, stateResponse{endpointJSON: toEndpointJSON(ep)})
}

func (s *Server) setState(w http.ResponseWriter, r *http.Request, tenant string, enabled bool, reason string) (schema.Endpoint, bool) {
	ep, err := s.Store.SetEndpointState(r.Context(), tenant, r.PathValue("id"), enabled, reason)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return ep, false
	}
	if err != nil {
		s.internal(w, r, "set endpoint state", err)
		return ep, false
	}
	s.changed(r, ep.ID)
	return ep, true
}

// replayParked queues the endpoint's parked deliveries again, oldest
// first, each batch marked as requeued once the broker has it, unless the
// endpoint is not sendable (disabled, or paused).
func (s *Server) replayParked(ctx context.Context, ep schema.Endpoint) (int, error) {
	if !ep.Sendable(time.Now()) {
		return 0, nil
	}
	return s.Store.ReplayParked(ctx, ep.ID, ep.UpdatedAt, s.Tasks.Enqueue)
}
