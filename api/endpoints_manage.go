package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/schema"
)

// Rotation overlap: the default, and the longest allowed.
const (
	defaultOverlap = 24 * time.Hour
	maxOverlap     = 7 * 24 * time.Hour
)

// endpointPatch is a PATCH body: absent fields stay as they are.
type endpointPatch struct {
	URL           *string            `json:"url"`
	Description   *string            `json:"description"`
	EventTypes    *[]string          `json:"event_types"`
	Headers       *map[string]string `json:"headers"`
	TimeoutMS     *wholeNumber       `json:"timeout_ms"`
	Enabled       *bool              `json:"enabled"`
	PayloadFormat *string            `json:"payload_format"`
	Ordering      *string            `json:"ordering"`
	DeadHead      *string            `json:"dead_head"`
	// Filter replaces the filter; "" removes it.
	Filter      *string `json:"filter"`
	AutoRecover *bool   `json:"auto_recover"`
	// Secret and SignatureScheme are refused: keys change by rotation only.
	Secret          *string `json:"secret"`
	SignatureScheme *string `json:"signature_scheme"`
}

type rotateRequest struct {
	Secret         string       `json:"secret"`
	OverlapSeconds *wholeNumber `json:"overlap_seconds"`
	// SignatureScheme is the new key's; "" keeps the endpoint's.
	SignatureScheme string `json:"signature_scheme"`
}

// validatePatch checks each field present exactly as creation does.
func (s *Server) validatePatch(req endpointPatch) (schema.EndpointUpdate, *Problem) {
	var u schema.EndpointUpdate
	if req.Secret != nil {
		return u, fieldProblem("secret", "cannot be changed by PATCH: use POST /v1/endpoints/{id}/rotate-secret")
	}
	if req.SignatureScheme != nil {
		return u, fieldProblem("signature_scheme", "cannot be changed by PATCH: use POST /v1/endpoints/{id}/rotate-secret, which signs with both keys during the overlap")
	}
	if req.PayloadFormat != nil {
		if !delivery.ValidFormat(*req.PayloadFormat) {
			return u, formatProblem()
		}
		u.PayloadFormat = req.PayloadFormat
	}
	if req.Filter != nil {
		if p := validateFilter(*req.Filter); p != nil {
			return u, p
		}
		u.Filter = req.Filter
	}
	if req.URL != nil {
		if *req.URL == "" {
			return u, fieldProblem("url", "must not be empty")
		}
		if p := s.validateURL(*req.URL); p != nil {
			return u, p
		}
		u.URL, u.DisplayURL = req.URL, delivery.RedactURL(*req.URL)
	}
	if req.EventTypes != nil {
		if p := validateEventTypes(*req.EventTypes); p != nil {
			return u, p
		}
		u.EventTypes = *req.EventTypes
	}
	if req.Description != nil {
		if p := validateDescription(*req.Description); p != nil {
			return u, p
		}
		u.Description = req.Description
	}
	if req.Headers != nil {
		if *req.Headers == nil {
			*req.Headers = map[string]string{}
		}
		if p := validateHeaders(*req.Headers); p != nil {
			return u, p
		}
		u.Headers = req.Headers
	}
	if req.TimeoutMS != nil {
		t, p := validateTimeout(int(*req.TimeoutMS))
		if p != nil {
			return u, p
		}
		u.Timeout = &t
	}
	var p *Problem
	if u.Ordering, u.DeadHead, p = validateOrdering(req.Ordering, req.DeadHead); p != nil {
		return u, p
	}
	u.AutoRecover = req.AutoRecover
	return u, nil
}

// updateEndpoint changes some of an endpoint's fields. "enabled" enables
// (replaying parked deliveries) or disables it, as the enable and disable
// routes do.
func (s *Server) updateEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	var req endpointPatch
	if p := decode(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	u, p := s.validatePatch(req)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ep, err := s.Store.UpdateEndpoint(r.Context(), tenant, r.PathValue("id"), u)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return
	}
	if errors.Is(err, schema.ErrOrderingReleasing) {
		writeProblem(w, problem(http.StatusConflict, "ordering: "+schema.ErrOrderingReleasing.Error()))
		return
	}
	if err != nil {
		s.internal(w, r, "update endpoint", err)
		return
	}
	s.changed(r, ep.ID)
	switch {
	case req.Enabled != nil && *req.Enabled:
		s.enableEndpoint(w, r, tenant)
		return
	case req.Enabled != nil && ep.Enabled():
		s.disableEndpoint(w, r, tenant)
		return
	}
	writeJSON(w, http.StatusOK, toEndpointJSON(ep))
}

// deleteEndpoint deletes an endpoint. Its deliveries stay in the history;
// tasks still queued for it end as dead without a request.
func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	id := r.PathValue("id")
	err := s.Store.DeleteEndpoint(r.Context(), tenant, id)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return
	}
	if err != nil {
		s.internal(w, r, "delete endpoint", err)
		return
	}
	s.changed(r, id)
	w.WriteHeader(http.StatusNoContent)
}

// rotateSecret gives an endpoint a new signing secret (generated, or the
// body's), shown in this response only; an Ed25519 key's public key is
// shown instead, and on every read. signature_scheme changes the scheme
// (from HMAC to Ed25519 or back) with the same overlap. The previous secret keeps signing
// too for overlap_seconds (default 24 h; 0 drops it at once).
func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request, tenant string) {
	var req rotateRequest
	if p := decodeOptional(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	overlap := defaultOverlap
	if req.OverlapSeconds != nil {
		if n := int(*req.OverlapSeconds); n < 0 || n > int(maxOverlap.Seconds()) {
			writeProblem(w, fieldProblem("overlap_seconds", "must be between 0 and "+strconv.Itoa(int(maxOverlap.Seconds()))))
			return
		}
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	scheme := req.SignatureScheme
	if scheme == "" && req.Secret == "" {
		cur, ok := s.endpoint(w, r, tenant, "rotate secret")
		if !ok {
			return
		}
		scheme = cur.SignatureScheme()
	}
	secret, public, p := newSigningKey(scheme, req.Secret)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ep, err := s.Store.RotateSecret(r.Context(), tenant, r.PathValue("id"), secret, public, overlap)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return
	}
	if err != nil {
		s.internal(w, r, "rotate secret", err)
		return
	}
	s.changed(r, ep.ID)
	out := toEndpointJSON(ep)
	if public == "" {
		out.Secret = secret // an Ed25519 private key never leaves
	}
	writeJSON(w, http.StatusOK, out)
}

// changed tells the fan-out check and the in-process endpoint table that
// an endpoint changed.
func (s *Server) changed(r *http.Request, id string) {
	s.fanout.reset()
	if s.EndpointChanged != nil {
		s.EndpointChanged(r.Context(), id)
	}
}

// testRequest is the body of a test event: both fields optional.
type testRequest struct {
	Type *string         `json:"type"`
	Data json.RawMessage `json:"data"`
}

type testJSON struct {
	EventID    string `json:"event_id"`
	DeliveryID string `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
	Type       string `json:"type"`
}

// defaultTestData is the data of a test event that names none.
var defaultTestData = []byte(`{"test":true}`)

// testEndpoint publishes a test event to one endpoint and no other: of the
// type the body names, which the endpoint must subscribe to (default
// schema.ExampleType of its patterns), with the body's data (default
// {"test":true}). It goes the way of every event (dispatch, signing,
// retries, history), so that it shows what the receiver will see.
func (s *Server) testEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	ep, ok := s.endpoint(w, r, tenant, "get endpoint")
	if !ok {
		return
	}
	var req testRequest
	if p := decodeOptional(w, r, s.MaxEventBytes+4<<10, &req); p != nil {
		writeProblem(w, p)
		return
	}
	typ := schema.ExampleType(ep.EventTypes)
	if req.Type != nil {
		typ = *req.Type
	}
	switch err := schema.ValidateType(typ); {
	case req.Type == nil && typ == "":
		writeProblem(w, fieldProblem("type", "is required: the endpoint subscribes only to hookstream's own events"))
		return
	case err != nil:
		var fe *schema.FieldError
		errors.As(err, &fe)
		writeProblem(w, fieldProblem("type", fe.Reason))
		return
	case strings.HasPrefix(typ, schema.ReservedTypePrefix):
		writeProblem(w, fieldProblem("type", "the \"hookstream.\" namespace is reserved for hookstream's own events"))
		return
	case !schema.MatchAny(ep.EventTypes, typ):
		writeProblem(w, fieldProblem("type", "the endpoint does not subscribe to this type"))
		return
	}
	data := []byte(req.Data)
	if len(data) == 0 {
		data = defaultTestData
	}
	if int64(len(data)) > s.MaxEventBytes {
		writeProblem(w, problem(http.StatusRequestEntityTooLarge, "data exceeds the event size limit"))
		return
	}
	ev, ok := s.publish(w, r, schema.Event{Tenant: tenant, Type: typ, Data: data, EndpointID: ep.ID})
	if !ok {
		return
	}
	writeJSON(w, http.StatusAccepted, testJSON{EventID: ev.ID, DeliveryID: schema.DeliveryID(tenant, ev.ID, ep.ID), EndpointID: ep.ID, Type: typ})
}
