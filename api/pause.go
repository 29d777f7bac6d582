package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// maxPause is the furthest a pause's until may be: past it, a date is
// more likely a typo than a maintenance window. A pause without until
// lasts until it is resumed.
const maxPause = 30 * 24 * time.Hour

type pauseRequest struct {
	Until *dateTime `json:"until"`
}

// pauseEndpoint pauses an endpoint: its deliveries park, without spending
// attempts or counting failures, until until (absent: until resumed).
// Pausing a paused endpoint moves the end of its pause.
func (s *Server) pauseEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	var req pauseRequest
	if p := decodeOptional(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	var until time.Time
	if req.Until != nil {
		now := s.Now()
		switch until = req.Until.Time; {
		case !until.After(now):
			writeProblem(w, fieldProblem("until", "must be in the future (it is "+now.UTC().Format(time.RFC3339)+
				" now): leave it out to pause until POST /v1/endpoints/{id}/resume"))
			return
		case until.After(now.Add(maxPause)):
			writeProblem(w, fieldProblem("until", "must be at most 30 days ahead: leave it out to pause until POST /v1/endpoints/{id}/resume"))
			return
		}
	}
	ep, err := s.Store.PauseEndpoint(r.Context(), tenant, r.PathValue("id"), until)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return
	}
	if err != nil {
		s.internal(w, r, "pause endpoint", err)
		return
	}
	s.changed(r, ep.ID)
	writeJSON(w, http.StatusOK, stateResponse{endpointJSON: toEndpointJSON(ep)})
}

// resumeEndpoint ends an endpoint's pause and, when it is enabled, replays
// its parked deliveries, oldest first, as enabling does. Resuming an
// endpoint that is not paused replays whatever is still parked.
func (s *Server) resumeEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	ep, err := s.Store.ResumeEndpoint(r.Context(), tenant, r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return
	}
	if err != nil {
		s.internal(w, r, "resume endpoint", err)
		return
	}
	s.changed(r, ep.ID)
	n, err := s.replayParked(r.Context(), ep)
	if err != nil {
		s.Log.Error("replay of parked deliveries failed", "endpoint_id", ep.ID, "replayed", n, "err", err)
		writeProblem(w, problem(http.StatusServiceUnavailable,
			"endpoint resumed, but replaying its parked deliveries stopped; resume it again to replay the rest"))
		return
	}
	writeJSON(w, http.StatusOK, stateResponse{endpointJSON: toEndpointJSON(ep), Replayed: n})
}
