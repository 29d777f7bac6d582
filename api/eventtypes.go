package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/catalog"
	"github.com/hookstream/hookstream/schema"
)

// EventTypeStore holds the event-type catalog: each tenant's types and the
// shared ones (tenant schema.SharedTenant).
type EventTypeStore interface {
	CreateEventType(ctx context.Context, t schema.EventType, maxPerTenant int) (schema.EventType, error)
	EventType(ctx context.Context, tenant, name string) (schema.EventType, error)
	EventTypes(ctx context.Context, tenant, after string, limit int) ([]schema.EventType, error)
	ReplaceEventType(ctx context.Context, t schema.EventType) (schema.EventType, error)
	DeleteEventType(ctx context.Context, tenant, name string) error
}

// eventTypeBodyBytes bounds an event type's request body: a schema and an
// example at their largest, and the rest.
const eventTypeBodyBytes = schema.MaxTypeSchemaBytes + schema.MaxTypeExampleBytes + 8<<10

type eventTypeRequest struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
	Deprecated  bool            `json:"deprecated"`
	Validate    bool            `json:"validate"`
	Shared      bool            `json:"shared"`
}

// eventTypePatch is a PATCH body: absent fields stay as they are; a null
// schema or example removes it.
type eventTypePatch struct {
	Description *string         `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
	Deprecated  *bool           `json:"deprecated"`
	Validate    *bool           `json:"validate"`
}

type eventTypeJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Example     json.RawMessage `json:"example,omitempty"`
	Deprecated  bool            `json:"deprecated"`
	Validate    bool            `json:"validate"`
	Shared      bool            `json:"shared"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func toEventTypeJSON(t schema.EventType) eventTypeJSON {
	return eventTypeJSON{Name: t.Name, Description: t.Description, Schema: t.Schema, Example: t.Example,
		Deprecated: t.Deprecated, Validate: t.Validate, Shared: t.Shared(), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// isNull reports whether a JSON value is absent or null.
func isNull(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// compileType checks a type's fields and compiles its schema: a 422 naming
// the field and the reason when they do not hold.
func compileType(t schema.EventType) (*catalog.Type, *Problem) {
	if len(t.Description) > schema.MaxTypeDescription {
		return nil, fieldProblem("description", "must be at most "+strconv.Itoa(schema.MaxTypeDescription)+" bytes")
	}
	ct, err := catalog.Compile(t)
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		return nil, fieldProblem(fe.Field, fe.Reason)
	}
	if err != nil {
		return nil, problem(http.StatusUnprocessableEntity, err.Error())
	}
	return ct, nil
}

// createEventType adds a type to the tenant's catalog, or (the admin
// token, "shared": true) to every tenant's.
func (s *Server) createEventType(w http.ResponseWriter, r *http.Request, tenant string) {
	var req eventTypeRequest
	if p := decode(w, r, eventTypeBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if req.Name == "" {
		writeProblem(w, fieldProblem("name", "is required"))
		return
	}
	if err := schema.ValidateType(req.Name); err != nil {
		writeProblem(w, fieldProblem("name", "must be an event type: 1 to "+strconv.Itoa(schema.MaxTypeLen)+" letters, digits, '_' or '-', in segments separated by '.'"))
		return
	}
	if strings.HasPrefix(req.Name, schema.ReservedTypePrefix) {
		writeProblem(w, fieldProblem("name", "the \"hookstream.\" namespace is reserved for hookstream's own events"))
		return
	}
	if req.Shared {
		if !isAdmin(r) {
			writeProblem(w, problem(http.StatusForbidden, "shared event types need the admin token"))
			return
		}
		tenant = schema.SharedTenant
	}
	t := schema.EventType{Tenant: tenant, Name: req.Name, Description: req.Description,
		Deprecated: req.Deprecated, Validate: req.Validate}
	if !isNull(req.Schema) {
		t.Schema = req.Schema
	}
	if !isNull(req.Example) {
		t.Example = req.Example
	}
	if _, p := compileType(t); p != nil {
		writeProblem(w, p)
		return
	}
	saved, err := s.Store.CreateEventType(r.Context(), t, s.MaxEventTypes)
	switch {
	case errors.Is(err, schema.ErrConflict):
		writeProblem(w, problem(http.StatusConflict, "event type "+strconv.Quote(req.Name)+" exists already: change it with PATCH"))
		return
	case errors.Is(err, schema.ErrLimitReached):
		writeProblem(w, problem(http.StatusConflict, "the catalog has "+strconv.Itoa(s.MaxEventTypes)+" event types, the most allowed: delete one before creating another"))
		return
	case errors.Is(err, schema.ErrInvalidData):
		writeProblem(w, problem(http.StatusUnprocessableEntity, "the event type could not be stored as sent (a schema or example Postgres refuses)"))
		return
	case err != nil:
		s.internal(w, r, "create event type", err)
		return
	}
	s.typeChanged(saved)
	w.Header().Set("Location", "/v1/event-types/"+saved.Name)
	writeJSON(w, http.StatusCreated, toEventTypeJSON(saved))
}

// typeChanged puts a saved type in this instance's catalog at once; the
// others learn of it by notification.
func (s *Server) typeChanged(t schema.EventType) {
	if s.Catalog == nil {
		return
	}
	ct, err := catalog.Compile(schema.EventType{Tenant: t.Tenant, Name: t.Name, Schema: t.Schema})
	if err != nil {
		return // checked before saving
	}
	ct.EventType = t
	s.Catalog.Put(ct)
}

// listEventTypes lists what the tenant's events may be, and endpoints
// subscribe to: its own types and the shared ones, by name.
func (s *Server) listEventTypes(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	after, p := idCursor(r.URL.Query(), func(c string) bool { return schema.ValidateType(c) == nil })
	if p != nil {
		writeProblem(w, p)
		return
	}
	ts, err := s.Store.EventTypes(r.Context(), tenant, after, limit+1)
	if err != nil {
		s.internal(w, r, "list event types", err)
		return
	}
	writeJSON(w, http.StatusOK, page(ts, limit, func(t schema.EventType) string { return t.Name }, toEventTypeJSON))
}

// resolveType finds the type a name means for a tenant: its own, else the
// shared one. When it answered (404, 500), ok is false.
func (s *Server) resolveType(w http.ResponseWriter, r *http.Request, tenant string) (t schema.EventType, ok bool) {
	name := r.PathValue("name")
	if schema.ValidateType(name) != nil {
		writeProblem(w, problem(http.StatusNotFound, "no such event type"))
		return t, false
	}
	t, err := s.Store.EventType(r.Context(), tenant, name)
	if errors.Is(err, schema.ErrNotFound) {
		t, err = s.Store.EventType(r.Context(), schema.SharedTenant, name)
	}
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such event type"))
		return t, false
	}
	if err != nil {
		s.internal(w, r, "get event type", err)
		return t, false
	}
	return t, true
}

func (s *Server) getEventType(w http.ResponseWriter, r *http.Request, tenant string) {
	if t, ok := s.resolveType(w, r, tenant); ok {
		writeJSON(w, http.StatusOK, toEventTypeJSON(t))
	}
}

// mayChange answers 403 to a tenant's key that would change a shared type.
func mayChange(w http.ResponseWriter, r *http.Request, t schema.EventType) bool {
	if t.Shared() && !isAdmin(r) {
		writeProblem(w, problem(http.StatusForbidden, "event type "+strconv.Quote(t.Name)+" is shared: only the admin token changes it"))
		return false
	}
	return true
}

func (s *Server) updateEventType(w http.ResponseWriter, r *http.Request, tenant string) {
	var (
		req     eventTypePatch
		present map[string]json.RawMessage // a null is present, unlike an absent field
	)
	body, p := readBody(w, r, eventTypeBodyBytes)
	if p == nil {
		p = decodeBytes(body, eventTypeBodyBytes, &req)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	_ = json.Unmarshal(body, &present) // decoded above: an object
	old, ok := s.resolveType(w, r, tenant)
	if !ok || !mayChange(w, r, old) {
		return
	}
	u := schema.EventTypeUpdate{Description: req.Description, Deprecated: req.Deprecated, Validate: req.Validate}
	if v, ok := present["schema"]; ok {
		u.Schema, u.ClearSchema = v, isNull(v)
	}
	if v, ok := present["example"]; ok {
		u.Example, u.ClearExample = v, isNull(v)
	}
	t := u.Apply(old)
	if _, p := compileType(t); p != nil {
		writeProblem(w, p)
		return
	}
	saved, err := s.Store.ReplaceEventType(r.Context(), t)
	switch {
	case errors.Is(err, schema.ErrNotFound):
		writeProblem(w, problem(http.StatusNotFound, "no such event type"))
		return
	case errors.Is(err, schema.ErrConflict):
		writeProblem(w, problem(http.StatusConflict, "the event type changed meanwhile: read it again and retry"))
		return
	case errors.Is(err, schema.ErrInvalidData):
		writeProblem(w, problem(http.StatusUnprocessableEntity, "the event type could not be stored as sent (a schema or example Postgres refuses)"))
		return
	case err != nil:
		s.internal(w, r, "update event type", err)
		return
	}
	s.typeChanged(saved)
	writeJSON(w, http.StatusOK, toEventTypeJSON(saved))
}

func (s *Server) deleteEventType(w http.ResponseWriter, r *http.Request, tenant string) {
	t, ok := s.resolveType(w, r, tenant)
	if !ok || !mayChange(w, r, t) {
		return
	}
	err := s.Store.DeleteEventType(r.Context(), t.Tenant, t.Name)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such event type"))
		return
	}
	if err != nil {
		s.internal(w, r, "delete event type", err)
		return
	}
	if s.Catalog != nil {
		s.Catalog.Remove(t.Tenant, t.Name)
	}
	w.WriteHeader(http.StatusNoContent)
}

// schemaProblem is the 422 of an event whose data fails its type's schema:
// the reason, and where in the data (pointer, a JSON Pointer).
func schemaProblem(se *schema.SchemaError) *Problem {
	p := fieldProblem("data", strings.TrimPrefix(se.Error(), "data: "))
	ptr := se.Pointer
	p.Pointer = &ptr
	return p
}
