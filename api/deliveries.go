package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// DeliveryStore is the history of deliveries and their attempts.
type DeliveryStore interface {
	Deliveries(ctx context.Context, f schema.DeliveryFilter) ([]schema.Delivery, error)
	Attempts(ctx context.Context, tenant, deliveryID string) ([]schema.AttemptRecord, error)
	RetryDelivery(ctx context.Context, tenant, deliveryID string, send func(context.Context, schema.Task) error) (schema.Delivery, error)
}

type deliveryJSON struct {
	ID             string        `json:"id"`
	EndpointID     string        `json:"endpoint_id"`
	EventID        string        `json:"event_id"`
	EventType      string        `json:"event_type"`
	Status         string        `json:"status"`
	Attempts       int           `json:"attempts"`
	LastStatusCode int           `json:"last_status_code,omitempty"`
	LastError      string        `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time    `json:"next_attempt_at,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	OrderingKey    string        `json:"ordering_key,omitempty"`
	Sequence       int64         `json:"sequence,omitempty"`
	WaitingFor     string        `json:"waiting_for,omitempty"`
	History        []attemptJSON `json:"attempt_history,omitempty"`
}

type attemptJSON struct {
	Attempt      int     `json:"attempt"`
	Outcome      string  `json:"outcome"`
	StatusCode   int     `json:"status_code,omitempty"`
	Error        string  `json:"error,omitempty"`
	LatencyMS    float64 `json:"latency_ms"`
	ResponseBody string  `json:"response_body,omitempty"`
	// ResponseEncoding is "base64" when the body was not clean text
	// (binary, NUL, not UTF-8) and ResponseBody holds its bytes in base64.
	ResponseEncoding  string    `json:"response_body_encoding,omitempty"`
	ResponseTruncated bool      `json:"response_truncated,omitempty"`
	At                time.Time `json:"at"`
}

func toDeliveryJSON(d schema.Delivery) deliveryJSON {
	return deliveryJSON{
		ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
		Attempts: d.Attempts, LastStatusCode: d.LastStatusCode, LastError: d.LastError,
		NextAttemptAt: d.NextAttemptAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		OrderingKey: d.OrderingKey, Sequence: d.Sequence, WaitingFor: d.WaitingFor,
	}
}

var deliveryStatuses = map[string]bool{
	string(schema.OutcomeSucceeded): true, string(schema.OutcomeRetrying): true,
	string(schema.OutcomeDead): true, string(schema.OutcomeParked): true,
	string(schema.OutcomeBlocked): true,
}

// listDeliveries lists deliveries newest first, filtered by endpoint_id,
// event_id, status and creation time (since, until).
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	q := r.URL.Query()
	f := schema.DeliveryFilter{
		Tenant: tenant, EndpointID: q.Get("endpoint_id"), EventID: q.Get("event_id"),
		Status: q.Get("status"), Limit: limit + 1,
	}
	switch {
	case q.Has("status") && !deliveryStatuses[f.Status]:
		writeProblem(w, queryProblem("status", "must be one of succeeded, retrying, dead, parked"))
		return
	case q.Has("endpoint_id") && !validID("ep_", f.EndpointID):
		writeProblem(w, queryProblem("endpoint_id", "must be an endpoint id (ep_…)"))
		return
	case q.Has("event_id") && !validEventIDParam(f.EventID):
		writeProblem(w, queryProblem("event_id", "must be an event id: 1 to 255 characters, no control characters"))
		return
	}
	if f.Since, f.Until, f.Before, p = historyWindow(q); p != nil {
		writeProblem(w, p)
		return
	}
	ds, err := s.Store.Deliveries(r.Context(), f)
	if err != nil {
		s.internal(w, r, "list deliveries", err)
		return
	}
	writeJSON(w, http.StatusOK, page(ds, limit, func(d schema.Delivery) string {
		return formatCursor(schema.Cursor{CreatedAt: d.CreatedAt, ID: d.ID})
	}, toDeliveryJSON))
}

// getDelivery returns one delivery with every attempt.
func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request, tenant string) {
	id := r.PathValue("id")
	ds, err := s.Store.Deliveries(r.Context(), schema.DeliveryFilter{Tenant: tenant, Limit: 1, ID: id})
	if err != nil {
		s.internal(w, r, "get delivery", err)
		return
	}
	if len(ds) == 0 {
		writeProblem(w, problem(http.StatusNotFound, "no such delivery"))
		return
	}
	rows, err := s.Store.Attempts(r.Context(), tenant, id)
	if err != nil {
		s.internal(w, r, "get delivery", err)
		return
	}
	out := toDeliveryJSON(ds[0])
	out.History = []attemptJSON{}
	for _, a := range rows {
		aj := attemptJSON{
			Attempt: a.Attempt, Outcome: a.Outcome, StatusCode: a.StatusCode, Error: a.Error,
			LatencyMS: float64(a.LatencyMicros) / 1000, ResponseBody: a.ResponseBody,
			ResponseTruncated: a.Truncated, At: a.At,
		}
		if a.ResponseBase64 {
			aj.ResponseEncoding = "base64"
		}
		out.History = append(out.History, aj)
	}
	writeJSON(w, http.StatusOK, out)
}

// formatCursor and parseCursor make and read the cursor of a listing
// ordered by creation time, then id: the time in unix microseconds (the
// precision Postgres keeps), a dot, and the id. Any such string is a
// position in the listing, so the document's pattern says exactly which
// cursors are valid.
func formatCursor(c schema.Cursor) string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID
}

func parseCursor(s string) (schema.Cursor, bool) {
	us, id, ok := strings.Cut(s, ".")
	// At most 18 digits (year 33658) or a minus and 17 (1199 BC): times
	// Postgres stores.
	digits := strings.TrimPrefix(us, "-")
	if !ok || id == "" || digits == "" || len(digits) > 18 || len(digits) > 17 && us[0] == '-' ||
		strings.Trim(digits, "0123456789") != "" {
		return schema.Cursor{}, false
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return schema.Cursor{}, false
	}
	return schema.Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, true
}

// queueTimeout bounds the queueing of tasks while their deliveries are
// locked: a Kafka that does not answer must not hold the rows, and a
// Postgres connection, for long.
const queueTimeout = 10 * time.Second

// retryDelivery sends a delivery again now: a task for its next attempt,
// with the same delivery id (webhook-id), from the event as stored. It
// answers 202 once the task is queued. If the attempt fails, the delivery
// goes through the retry schedule from its first tier.
//
// A delivery whose next attempt is pending (status retrying: queued, or
// waiting in a retry tier) answers 409: the deliverer numbers the attempts
// of a delivery one after the other, and a second task would start a second
// chain with the same numbers. Retries of one delivery at once queue one
// task; the others answer 409 too.
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request, tenant string) {
	id := r.PathValue("id")
	var queueErr error
	d, err := s.Store.RetryDelivery(r.Context(), tenant, id, func(ctx context.Context, task schema.Task) error {
		ctx, cancel := context.WithTimeout(ctx, queueTimeout)
		defer cancel()
		queueErr = s.Tasks.Enqueue(ctx, []schema.Task{task})
		return queueErr
	})
	switch {
	case err == nil:
	case errors.Is(err, schema.ErrNotFound):
		writeProblem(w, problem(http.StatusNotFound, "no such delivery"))
		return
	case errors.Is(err, schema.ErrRetrying):
		due := ""
		if d.NextAttemptAt != nil {
			due = ", due at " + d.NextAttemptAt.UTC().Format(time.RFC3339)
		}
		writeProblem(w, problem(http.StatusConflict, fmt.Sprintf("the delivery is being retried on its schedule: "+
			"attempt %d is pending%s; retry it by hand once it has succeeded or is dead", d.Attempts+1, due)))
		return
	case errors.Is(err, schema.ErrEventGone):
		writeProblem(w, problem(http.StatusConflict, "the delivery's event is no longer stored (retention), so it cannot be sent again"))
		return
	case errors.Is(err, schema.ErrEndpointGone):
		writeProblem(w, problem(http.StatusConflict, "the delivery's endpoint was deleted"))
		return
	case queueErr != nil:
		s.Log.Error("queueing a manual retry failed", "delivery_id", id, "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, problem(http.StatusServiceUnavailable, "the retry could not be queued; try again"))
		return
	default:
		s.internal(w, r, "retry delivery", err)
		return
	}
	w.Header().Set("Location", "/v1/deliveries/"+id)
	writeJSON(w, http.StatusAccepted, toDeliveryJSON(d))
}
