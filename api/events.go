package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schema"
)

// EventStore is the history of the events the dedupe gate recorded.
type EventStore interface {
	StoredEvent(ctx context.Context, tenant, id string) (schema.StoredEvent, error)
	StoredEvents(ctx context.Context, f schema.EventFilter) (events []schema.StoredEvent, more bool, err error)
}

type eventRequest struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt *dateTime       `json:"created_at"`
	// EndpointID narrows the fan-out to one endpoint of the tenant.
	EndpointID string `json:"endpoint_id"`
	// OrderingKey orders the event's deliveries on endpoints that ask for
	// order (docs/ordering.md).
	OrderingKey *utf8Text `json:"ordering_key"`
}

type eventJSON struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	Type       string    `json:"type"`
	CreatedAt  time.Time `json:"created_at"`
	EndpointID string    `json:"endpoint_id,omitempty"`
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
	ev := schema.Event{ID: req.ID, Tenant: tenant, Type: req.Type, Data: req.Data, EndpointID: req.EndpointID}
	if req.OrderingKey != nil {
		switch {
		case req.OrderingKey.Invalid:
			writeProblem(w, fieldProblem("ordering_key", "must be valid UTF-8"))
			return
		case req.OrderingKey.S == "":
			writeProblem(w, fieldProblem("ordering_key", "must not be empty: leave it out to order by the event type"))
			return
		}
		ev.OrderingKey = req.OrderingKey.S
	}
	if req.CreatedAt != nil {
		ev.CreatedAt = req.CreatedAt.UTC()
	}
	if ev, ok := s.publish(w, r, ev); ok {
		writeJSON(w, http.StatusAccepted, eventJSON{ID: ev.ID, Tenant: ev.Tenant, Type: ev.Type, CreatedAt: ev.CreatedAt, EndpointID: ev.EndpointID})
	}
}

// publish validates an event (its id generated when absent), checks its
// fan-out and stores it in the events topic. When it cannot, it has
// answered and ok is false.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, ev schema.Event) (_ schema.Event, ok bool) {
	if ev.ID == "" {
		ev.ID = schema.NewID("evt_")
	}
	if err := ev.Validate(); err != nil {
		var fe *schema.FieldError
		if errors.As(err, &fe) {
			writeProblem(w, fieldProblem(fe.Field, fe.Reason))
			return ev, false
		}
		writeProblem(w, problem(http.StatusUnprocessableEntity, err.Error()))
		return ev, false
	}
	if err := s.Catalog.Check(&ev); err != nil {
		var se *schema.SchemaError
		if errors.As(err, &se) {
			writeProblem(w, schemaProblem(se))
			return ev, false
		}
		writeProblem(w, problem(http.StatusUnprocessableEntity, err.Error()))
		return ev, false
	}
	// An event for one endpoint reaches at most one.
	if ev.EndpointID == "" && !s.checkFanout(w, r, ev.Tenant, ev.Type) {
		return ev, false
	}
	ctx, end := s.traceEvent(r, &ev)
	ev, err := s.Publisher.Publish(ctx, ev)
	end(err)
	if errors.Is(err, producer.ErrTooLarge) {
		// Encoded with its id, type and created_at, the event outgrew
		// the limit (or the events topic's): sending it again cannot help.
		writeProblem(w, problem(http.StatusRequestEntityTooLarge,
			"the event is too large once encoded with its id, type and created_at ("+
				strings.TrimPrefix(err.Error(), producer.ErrTooLarge.Error()+": ")+"); sending it again will not help"))
		return ev, false
	}
	if err != nil {
		s.Log.Error("publish failed", "event_id", ev.ID, "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, problem(http.StatusServiceUnavailable, "the event could not be stored; retry with the same Idempotency-Key"))
		return ev, false
	}
	return ev, true
}

// storedEventJSON is an event as recorded by the dispatcher's dedupe gate.
type storedEventJSON struct {
	ID         string          `json:"id"`
	Tenant     string          `json:"tenant"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"data"`
	CreatedAt  time.Time       `json:"created_at"`
	ReceivedAt time.Time       `json:"received_at"`
}

func toStoredEventJSON(e schema.StoredEvent) storedEventJSON {
	return storedEventJSON{ID: e.ID, Tenant: e.Tenant, Type: e.Type, Data: e.Data, CreatedAt: e.CreatedAt, ReceivedAt: e.ReceivedAt}
}

// getEvent returns one event with its data. An event accepted by POST
// /v1/events shows here once the dispatcher has recorded it.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, tenant string) {
	e, err := s.Store.StoredEvent(r.Context(), tenant, r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such event"))
		return
	}
	if err != nil {
		s.internal(w, r, "get event", err)
		return
	}
	writeJSON(w, http.StatusOK, toStoredEventJSON(e))
}

// eventPageBytes bounds the data of a page of events: 500 events of the
// largest size would otherwise make a response of 500 MiB, built in memory.
const eventPageBytes = 4 << 20

// listEvents lists events newest first, filtered by type and creation
// time. A page stops early once its events' data passes eventPageBytes; its
// next_cursor then leads on.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	q := r.URL.Query()
	f := schema.EventFilter{Tenant: tenant, Type: q.Get("type"), Limit: limit, MaxBytes: eventPageBytes}
	if q.Has("type") {
		if err := schema.ValidateType(f.Type); err != nil {
			writeProblem(w, queryProblem("type", "must be an event type, e.g. invoice.paid"))
			return
		}
	}
	if f.Since, f.Until, f.Before, p = historyWindow(q); p != nil {
		writeProblem(w, p)
		return
	}
	es, more, err := s.Store.StoredEvents(r.Context(), f)
	if err != nil {
		s.internal(w, r, "list events", err)
		return
	}
	out := listJSON[storedEventJSON]{Data: make([]storedEventJSON, 0, len(es))}
	for _, e := range es {
		out.Data = append(out.Data, toStoredEventJSON(e))
	}
	if more && len(es) > 0 {
		last := es[len(es)-1]
		out.NextCursor = formatCursor(schema.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	writeJSON(w, http.StatusOK, out)
}

// historyWindow reads the parameters every history list shares: since and
// until, then the before cursor.
func historyWindow(q url.Values) (since, until *time.Time, before *schema.Cursor, p *Problem) {
	if since, until, p = timeRange(q); p != nil {
		return nil, nil, nil, p
	}
	before, p = cursorParam(q)
	return since, until, before, p
}

// timeRange reads the since and until query parameters (RFC 3339).
func timeRange(q url.Values) (since, until *time.Time, p *Problem) {
	for _, param := range []struct {
		name string
		to   **time.Time
	}{{"since", &since}, {"until", &until}} {
		if !q.Has(param.name) {
			continue
		}
		t, ok := parseDateTime(q.Get(param.name))
		if !ok {
			return nil, nil, queryProblem(param.name, "must be an RFC 3339 time, e.g. 2026-11-29T09:00:00Z")
		}
		*param.to = &t
	}
	return since, until, nil
}

// cursorParam reads the cursor query parameter of a time-ordered listing.
func cursorParam(q url.Values) (*schema.Cursor, *Problem) {
	c := q.Get("cursor")
	if c == "" {
		return nil, nil
	}
	cur, ok := parseCursor(c)
	if !ok {
		return nil, queryProblem("cursor", "not a cursor this API returned")
	}
	return &cur, nil
}

// queryProblem is a 400 naming a query parameter.
func queryProblem(name, detail string) *Problem {
	p := problem(http.StatusBadRequest, name+": "+detail)
	p.Field = name
	return p
}

// traceEvent passes the request's W3C trace context (traceparent,
// tracestate) on to the event's record: through a span of its own when
// the server has a Tracer, as it came otherwise. end ends the span.
func (s *Server) traceEvent(r *http.Request, ev *schema.Event) (ctx context.Context, end func(error)) {
	ctx, end = r.Context(), func(error) {}
	if s.Tracer == nil {
		// Passed on as it came, when valid.
		tp := r.Header.Get("Traceparent")
		if !schema.ValidTraceparent(tp) {
			return ctx, end
		}
		kv := []string{schema.HeaderTraceparent, tp}
		if ts := r.Header.Get("Tracestate"); ts != "" && schema.ValidTracestate(ts) {
			kv = append(kv, schema.HeaderTracestate, ts)
		}
		return producer.WithHeaders(ctx, kv...), end
	}
	ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
	if s.Tracer != nil {
		var span trace.Span
		ctx, span = s.Tracer.Start(ctx, "POST /v1/events", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", "POST"),
				attribute.String("http.route", "/v1/events"),
				attribute.String("hookstream.tenant", ev.Tenant),
				attribute.String("hookstream.event.id", ev.ID),
				attribute.String("hookstream.event.type", ev.Type),
			))
		end = func(err error) {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, "not published")
			}
			span.End()
		}
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, end
	}
	h := http.Header{}
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	kv := []string{"traceparent", h.Get("Traceparent")}
	if ts := h.Get("Tracestate"); ts != "" {
		kv = append(kv, "tracestate", ts)
	}
	return producer.WithHeaders(ctx, kv...), end
}

var traceContext = propagation.TraceContext{}
