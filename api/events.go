package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

type eventRequest struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt *time.Time      `json:"created_at"`
}

type eventJSON struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
}

// publishEvent accepts an event for delivery: 202 once it is stored in the
// events topic. The Idempotency-Key header (or the body's id) is the event
// id: publishing it again answers 202 with the same id and delivers once.
func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request, tenant string) {
	var req eventRequest
	if p := decode(w, r, s.MaxEventBytes+4<<10, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if req.ID != "" && req.ID != key {
			writeProblem(w, fieldProblem("id", "differs from the Idempotency-Key header"))
			return
		}
		req.ID = key
	}
	if strings.HasPrefix(req.Type, schema.ReservedTypePrefix) {
		writeProblem(w, fieldProblem("type", "the \"hookstream.\" namespace is reserved for hookstream's own events"))
		return
	}
	if int64(len(req.Data)) > s.MaxEventBytes {
		writeProblem(w, problem(http.StatusRequestEntityTooLarge, "data exceeds the event size limit"))
		return
	}
	ev := schema.Event{ID: req.ID, Tenant: tenant, Type: req.Type, Data: req.Data}
	if req.CreatedAt != nil {
		ev.CreatedAt = req.CreatedAt.UTC()
	}
	if ev.ID == "" {
		ev.ID = schema.NewID("evt_")
	}
	if err := ev.Validate(); err != nil {
		var fe *schema.FieldError
		if errors.As(err, &fe) {
			writeProblem(w, fieldProblem(fe.Field, fe.Reason))
			return
		}
		writeProblem(w, problem(http.StatusUnprocessableEntity, err.Error()))
		return
	}
	ev, err := s.Publisher.Publish(r.Context(), ev)
	if err != nil {
		s.Log.Error("publish failed", "event_id", ev.ID, "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, problem(http.StatusServiceUnavailable, "the event could not be stored; retry with the same Idempotency-Key"))
		return
	}
	writeJSON(w, http.StatusAccepted, eventJSON{ID: ev.ID, Tenant: ev.Tenant, Type: ev.Type, CreatedAt: ev.CreatedAt})
}
