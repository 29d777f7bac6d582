package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/hookstream/hookstream/schema"
)

// SourceStore holds the sources: topics read as they are (schema.Source).
type SourceStore interface {
	CreateSource(ctx context.Context, s schema.Source, max int) (schema.Source, error)
	Source(ctx context.Context, id string) (schema.Source, error)
	Sources(ctx context.Context) ([]schema.Source, error)
	DeleteSource(ctx context.Context, id string) error
}

type sourceRequest struct {
	ID           *string            `json:"id"` // nil: generated
	Name         string             `json:"name"`
	Topic        string             `json:"topic"`
	TopicPattern string             `json:"topic_pattern"`
	Tenant       *schema.SourceRule `json:"tenant"`
	Type         *schema.SourceRule `json:"type"`
	EventID      *schema.SourceRule `json:"event_id"`
	Data         *schema.SourceRule `json:"data"`
	OrderingKey  *schema.SourceRule `json:"ordering_key"`
	Start        string             `json:"start"`
}

// createSource declares a source; the dispatch role starts reading it
// within HOOKSTREAM_SOURCE_REFRESH.
func (s *Server) createSource(w http.ResponseWriter, r *http.Request) {
	var req sourceRequest
	if p := decode(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	src := schema.Source{ID: schema.NewID("src_"), Name: req.Name, Topic: req.Topic, TopicPattern: req.TopicPattern,
		Tenant: req.Tenant, Type: req.Type, EventID: req.EventID, Data: req.Data, OrderingKey: req.OrderingKey, Start: req.Start}
	if src.Start == "" {
		src.Start = schema.StartEarliest
	}
	if req.ID != nil {
		if !validTenantID(*req.ID) {
			writeProblem(w, fieldProblem("id", "must be 1 to "+strconv.Itoa(maxTenantID)+" letters, digits, '_', '-' or '.', not starting with '.'"))
			return
		}
		src.ID = *req.ID
	}
	var fe *schema.FieldError
	if err := src.Validate(s.TopicPrefix); errors.As(err, &fe) {
		writeProblem(w, fieldProblem(fe.Field, fe.Reason))
		return
	}
	created, err := s.Store.CreateSource(r.Context(), src, s.MaxSources)
	switch {
	case errors.Is(err, schema.ErrConflict):
		p := problem(http.StatusConflict, "source "+strconv.Quote(src.ID)+" already exists")
		p.Field = "id"
		writeProblem(w, p)
		return
	case errors.Is(err, schema.ErrLimitReached):
		writeProblem(w, problem(http.StatusConflict, "at most "+strconv.Itoa(s.MaxSources)+" sources may exist (HOOKSTREAM_MAX_SOURCES)"))
		return
	case err != nil:
		s.internal(w, r, "create source", err)
		return
	}
	w.Header().Set("Location", "/v1/sources/"+created.ID)
	writeJSON(w, http.StatusCreated, created)
}

func (s *Server) listSources(w http.ResponseWriter, r *http.Request) {
	srcs, err := s.Store.Sources(r.Context())
	if err != nil {
		s.internal(w, r, "list sources", err)
		return
	}
	if srcs == nil {
		srcs = []schema.Source{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": srcs})
}

func (s *Server) getSource(w http.ResponseWriter, r *http.Request) {
	src, err := s.Store.Source(r.Context(), r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such source"))
		return
	}
	if err != nil {
		s.internal(w, r, "get source", err)
		return
	}
	writeJSON(w, http.StatusOK, src)
}

// deleteSource deletes a source: the dispatch role stops reading it within
// HOOKSTREAM_SOURCE_REFRESH. Its consumer group's offsets stay in Kafka.
func (s *Server) deleteSource(w http.ResponseWriter, r *http.Request) {
	err := s.Store.DeleteSource(r.Context(), r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such source"))
		return
	}
	if err != nil {
		s.internal(w, r, "delete source", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
