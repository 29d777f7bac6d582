package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/filter"
	"github.com/hookstream/hookstream/routing"
	"github.com/hookstream/hookstream/schema"
)

// Bounds of a filter test.
const (
	defaultFilterTestEvents = 50
	maxFilterTestEvents     = 200
)

// validateFilter compiles a filter ("" is none): a 422 naming the field,
// with the line and column of the error when it has one.
func validateFilter(src string) *Problem {
	if src == "" {
		return nil
	}
	_, p := compileFilter(src)
	return p
}

func compileFilter(src string) (*filter.Filter, *Problem) {
	f, err := filter.Compile(src)
	if err == nil {
		return f, nil
	}
	var fe *filter.Error
	if !errors.As(err, &fe) {
		return nil, problem(http.StatusInternalServerError, "cannot compile the filter")
	}
	reason := schema.CleanText(fe.Reason)
	if fe.Line > 0 {
		reason = "line " + strconv.Itoa(fe.Line) + ", column " + strconv.Itoa(fe.Column) + ": " + reason
	}
	p := fieldProblem("filter", reason)
	p.Line, p.Column = fe.Line, fe.Column
	return nil, p
}

type filterTestRequest struct {
	// Filter, when present, is tested instead of the endpoint's own
	// ("" tests no filter).
	Filter *string `json:"filter"`
	// EventTypes, for POST /v1/filter-test only: the patterns of the
	// endpoint to be (default ["*"]).
	EventTypes []string     `json:"event_types"`
	Limit      *wholeNumber `json:"limit"`
}

type filterTestEvent struct {
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	CreatedAt  time.Time `json:"created_at"`
	Subscribed bool      `json:"subscribed"`
	Passed     bool      `json:"passed"`
	Error      string    `json:"error,omitempty"`
}

type filterTestJSON struct {
	Filter     string            `json:"filter"`
	Events     int               `json:"events"`
	Subscribed int               `json:"subscribed"`
	Passed     int               `json:"passed"`
	Data       []filterTestEvent `json:"data"`
}

// testEndpointFilter answers which of the tenant's latest events an
// endpoint would have received: subscribed by its event types, and let
// through by its filter (or the one in the body, to try it before saving
// it).
func (s *Server) testEndpointFilter(w http.ResponseWriter, r *http.Request, tenant string) {
	var req filterTestRequest
	if p := decodeOptional(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if req.EventTypes != nil {
		writeProblem(w, fieldProblem("event_types", "is the endpoint's: change it with PATCH, or test an unsaved endpoint with POST /v1/filter-test"))
		return
	}
	ep, ok := s.endpoint(w, r, tenant, "filter test")
	if !ok {
		return
	}
	src := ep.Filter
	if req.Filter != nil {
		src = *req.Filter
	}
	s.filterTest(w, r, tenant, ep.EventTypes, src, req.Limit)
}

// testFilter is testEndpointFilter for an endpoint not saved yet: its
// event types and filter are the body's.
func (s *Server) testFilter(w http.ResponseWriter, r *http.Request, tenant string) {
	var req filterTestRequest
	if p := decode(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if req.Filter == nil {
		writeProblem(w, fieldProblem("filter", "is required"))
		return
	}
	types := req.EventTypes
	if types == nil {
		types = []string{"*"}
	} else if p := validateEventTypes(types); p != nil {
		writeProblem(w, p)
		return
	}
	s.filterTest(w, r, tenant, types, *req.Filter, req.Limit)
}

func (s *Server) filterTest(w http.ResponseWriter, r *http.Request, tenant string, types []string, src string, limit *wholeNumber) {
	n := defaultFilterTestEvents
	if limit != nil {
		if n = int(*limit); n < 1 || n > maxFilterTestEvents {
			writeProblem(w, fieldProblem("limit", "must be between 1 and "+strconv.Itoa(maxFilterTestEvents)))
			return
		}
	}
	var f *filter.Filter
	if src != "" {
		var p *Problem
		if f, p = compileFilter(src); p != nil {
			writeProblem(w, p)
			return
		}
	}
	evs, _, err := s.Store.StoredEvents(r.Context(), schema.EventFilter{Tenant: tenant, Limit: n, MaxBytes: eventPageBytes})
	if err != nil {
		s.internal(w, r, "filter test", err)
		return
	}
	out := filterTestJSON{Filter: src, Events: len(evs), Data: make([]filterTestEvent, 0, len(evs))}
	for _, ev := range evs {
		res := filterTestEvent{EventID: ev.ID, Type: ev.Type, CreatedAt: ev.CreatedAt, Subscribed: schema.MatchAny(types, ev.Type)}
		if res.Subscribed {
			out.Subscribed++
			res.Passed = true
			if f != nil {
				// Stored events keep no record headers: a filter that
				// reads headers sees none here.
				var err error
				if res.Passed, err = f.Match(routing.FilterInput(ev.Event, nil)); err != nil {
					res.Error = schema.CleanText(err.Error())
				}
			}
		}
		if res.Passed {
			out.Passed++
		}
		out.Data = append(out.Data, res)
	}
	writeJSON(w, http.StatusOK, out)
}
