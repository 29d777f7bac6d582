package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// AttemptFeed lists a tenant's attempts by time, for GET /v1/attempts.
type AttemptFeed interface {
	AttemptFeed(ctx context.Context, f schema.FeedFilter) ([]schema.FeedAttempt, error)
}

type feedAttemptJSON struct {
	DeliveryID string    `json:"delivery_id"`
	Attempt    int       `json:"attempt"`
	EndpointID string    `json:"endpoint_id"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	At         time.Time `json:"at"`
}

// listAttempts lists the tenant's attempts made since a time, oldest
// first: what `hookstream deliveries tail` follows. Filters: endpoint_id,
// outcome, until.
func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request, tenant string) {
	if s.Feed == nil {
		writeProblem(w, problem(http.StatusNotFound, "no such route: GET /v1/attempts"))
		return
	}
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	q := r.URL.Query()
	f := schema.FeedFilter{Tenant: tenant, EndpointID: q.Get("endpoint_id"), Outcome: q.Get("outcome"), Limit: limit + 1}
	switch {
	case !q.Has("since"):
		writeProblem(w, queryProblem("since", "is required: the RFC 3339 time from which to list attempts"))
		return
	case q.Has("outcome") && !deliveryStatuses[f.Outcome]:
		writeProblem(w, queryProblem("outcome", "must be one of succeeded, retrying, dead, parked"))
		return
	case q.Has("endpoint_id") && !validID("ep_", f.EndpointID):
		writeProblem(w, queryProblem("endpoint_id", "must be an endpoint id (ep_…)"))
		return
	}
	since, until, p := timeRange(q)
	if p != nil {
		writeProblem(w, p)
		return
	}
	f.Since, f.Until = *since, until
	if c := q.Get("cursor"); c != "" {
		cur, ok := parseFeedCursor(c)
		if !ok {
			writeProblem(w, queryProblem("cursor", "not a cursor this API returned"))
			return
		}
		f.After = &cur
	}
	rows, err := s.Feed.AttemptFeed(r.Context(), f)
	if err != nil {
		s.internal(w, r, "list attempts", err)
		return
	}
	writeJSON(w, http.StatusOK, page(rows, limit, func(a schema.FeedAttempt) string {
		return formatCursor(schema.Cursor{CreatedAt: a.At, ID: strconv.Itoa(a.Attempt) + "." + a.DeliveryID})
	}, func(a schema.FeedAttempt) feedAttemptJSON {
		return feedAttemptJSON{DeliveryID: a.DeliveryID, Attempt: a.Attempt, EndpointID: a.EndpointID, EventID: a.EventID,
			EventType: a.EventType, Outcome: a.Outcome, StatusCode: a.StatusCode, Error: a.Error,
			LatencyMS: float64(a.LatencyMicros) / 1000, At: a.At}
	}))
}

// parseFeedCursor reads a cursor of the attempt feed:
// <unix microseconds>.<attempt>.<delivery id>.
func parseFeedCursor(s string) (schema.FeedCursor, bool) {
	c, ok := parseCursor(s)
	if !ok {
		return schema.FeedCursor{}, false
	}
	n, id, ok := strings.Cut(c.ID, ".")
	attempt, err := strconv.Atoi(n)
	// A position, not an attempt: attempt 0 is before every attempt of
	// its delivery, and valid as the document's pattern says.
	if !ok || err != nil || attempt < 0 || !validID("msg_", id) {
		return schema.FeedCursor{}, false
	}
	return schema.FeedCursor{At: c.CreatedAt, DeliveryID: id, Attempt: attempt}, true
}
