package console

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// Page sizes.
const (
	tenantsPerPage    = 100
	endpointsPerPage  = 100
	deliveriesPerPage = 50
	recentDeliveries  = 20
	healthWindow      = time.Hour
)

type tenantsData struct {
	Tenants []schema.Tenant
	Next    string
}

func (s *Server) tenantsPage(w http.ResponseWriter, r *http.Request, sc scope) {
	ts, err := s.Store.Tenants(r.Context(), r.URL.Query().Get("after"), tenantsPerPage+1)
	if err != nil {
		s.internal(w, r, sc, "tenants", err)
		return
	}
	d := tenantsData{Tenants: ts}
	if len(ts) > tenantsPerPage {
		d.Tenants = ts[:tenantsPerPage]
		d.Next = d.Tenants[tenantsPerPage-1].ID
	}
	s.render(w, r, sc, "tenants", http.StatusOK, "Tenants", d)
}

// endpointRow is an endpoint with its health, and whether its receiver's
// pause holds now.
type endpointRow struct {
	schema.Endpoint
	Health    schema.EndpointStats
	PausedNow bool
}

type endpointsData struct {
	Endpoints      []endpointRow
	Next           string
	FrameAncestors string
	Window         string
}

func (s *Server) endpointsPage(w http.ResponseWriter, r *http.Request, sc scope) {
	ctx := r.Context()
	eps, err := s.Store.Endpoints(ctx, sc.Tenant, r.URL.Query().Get("after"), endpointsPerPage+1)
	if err != nil {
		s.internal(w, r, sc, "endpoints", err)
		return
	}
	d := endpointsData{Window: "1h"}
	if len(eps) > endpointsPerPage {
		eps = eps[:endpointsPerPage]
		d.Next = eps[endpointsPerPage-1].ID
	}
	rows, err := s.withHealth(r, sc.Tenant, eps)
	if err != nil {
		s.internal(w, r, sc, "endpoint health", err)
		return
	}
	d.Endpoints = rows
	if sc.Admin {
		origins, err := s.Store.PortalFrameAncestors(ctx, sc.Tenant)
		if err != nil {
			s.internal(w, r, sc, "portal frame ancestors", err)
			return
		}
		d.FrameAncestors = strings.Join(origins, " ")
	}
	s.render(w, r, sc, "endpoints", http.StatusOK, "Endpoints", d)
}

func (s *Server) withHealth(r *http.Request, tenant string, eps []schema.Endpoint) ([]endpointRow, error) {
	ids := make([]string, len(eps))
	for i, e := range eps {
		ids[i] = e.ID
	}
	health, err := s.Store.EndpointStats(r.Context(), tenant, ids, s.Now().Add(-healthWindow))
	if err != nil {
		return nil, err
	}
	rows := make([]endpointRow, len(eps))
	for i, e := range eps {
		rows[i] = endpointRow{Endpoint: e, Health: health[e.ID], PausedNow: e.Paused(s.Now())}
	}
	return rows, nil
}

// endpoint loads the endpoint of the tenant the path names, or answers
// 404 (none such) or 500.
func (s *Server) endpoint(w http.ResponseWriter, r *http.Request, sc scope) (schema.Endpoint, bool) {
	ep, err := s.Store.Endpoint(r.Context(), sc.Tenant, r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		s.fail(w, r, sc, http.StatusNotFound, "There is no such endpoint.")
		return ep, false
	}
	if err != nil {
		s.internal(w, r, sc, "endpoint", err)
		return ep, false
	}
	return ep, true
}

type endpointData struct {
	Endpoint   endpointRow
	Deliveries []schema.Delivery
	TestType   string
}

func (s *Server) endpointPage(w http.ResponseWriter, r *http.Request, sc scope) {
	ctx := r.Context()
	ep, ok := s.endpoint(w, r, sc)
	if !ok {
		return
	}
	rows, err := s.withHealth(r, sc.Tenant, []schema.Endpoint{ep})
	if err != nil {
		s.internal(w, r, sc, "endpoint health", err)
		return
	}
	ds, err := s.Store.Deliveries(ctx, schema.DeliveryFilter{Tenant: sc.Tenant, EndpointID: ep.ID, Limit: recentDeliveries})
	if err != nil {
		s.internal(w, r, sc, "deliveries", err)
		return
	}
	s.render(w, r, sc, "endpoint", http.StatusOK, ep.DisplayURL, endpointData{Endpoint: rows[0], Deliveries: ds,
		TestType: schema.ExampleType(ep.EventTypes)})
}

// maxHaltedKeys bounds the halted keys one page lists, longest halted
// first.
const maxHaltedKeys = 100

type haltedData struct {
	Endpoint schema.Endpoint
	Keys     []schema.HaltedKey
	More     bool
}

// haltedPage lists the ordering keys of an endpoint stopped at a dead head
// (dead_head: halt), each with its head, what waits behind it, and the
// buttons that retry or skip the head.
func (s *Server) haltedPage(w http.ResponseWriter, r *http.Request, sc scope) {
	ctx := r.Context()
	ep, ok := s.endpoint(w, r, sc)
	if !ok {
		return
	}
	keys, err := s.Store.HaltedKeys(ctx, sc.Tenant, ep.ID, maxHaltedKeys+1)
	if err != nil {
		s.internal(w, r, sc, "halted keys", err)
		return
	}
	d := haltedData{Endpoint: ep, Keys: keys}
	if len(keys) > maxHaltedKeys {
		d.Keys, d.More = keys[:maxHaltedKeys], true
	}
	s.render(w, r, sc, "halted", http.StatusOK, "Halted keys · "+ep.DisplayURL, d)
}

// deliveryQuery is the search of the deliveries page, as its form sends it.
type deliveryQuery struct {
	Tenant, Endpoint, EventID, Type, Status, Since, Until string
}

// Query is the search as a query string, for the links of the page
// (encoded here: the template must not encode it again).
func (q deliveryQuery) Query() template.URL {
	v := url.Values{}
	for k, val := range map[string]string{"tenant": q.Tenant, "endpoint": q.Endpoint, "event": q.EventID, "type": q.Type, "status": q.Status,
		"since": q.Since, "until": q.Until} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return template.URL(v.Encode()) //nolint:gosec // url.Values.Encode escapes every value
}

type deliveriesData struct {
	Q          deliveryQuery
	Statuses   []string
	Deliveries []schema.Delivery
	More       bool
	Live       bool // the first page, refreshed as deliveries come
	Problem    string
}

// formTime reads a datetime-local field (in UTC) or an RFC 3339 time.
func formTime(v string) (*time.Time, bool) {
	if v == "" {
		return nil, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return &t, true
		}
	}
	return nil, false
}

var statuses = []string{string(schema.OutcomeSucceeded), string(schema.OutcomeRetrying), string(schema.OutcomeDead),
	string(schema.OutcomeParked), string(schema.OutcomeBlocked)}

func (s *Server) deliveriesPage(w http.ResponseWriter, r *http.Request, sc scope) {
	qs := r.URL.Query()
	q := deliveryQuery{Endpoint: qs.Get("endpoint"), EventID: qs.Get("event"), Type: qs.Get("type"),
		Status: qs.Get("status"), Since: qs.Get("since"), Until: qs.Get("until")}
	d := deliveriesData{Q: q, Statuses: statuses}
	f := schema.DeliveryFilter{Tenant: sc.Tenant, EndpointID: q.Endpoint, EventID: q.EventID, EventType: q.Type,
		Limit: deliveriesPerPage + 1}
	if sc.Admin && sc.Tenant == "" {
		// The operator's search of every tenant, or of the one it names.
		q.Tenant = strings.TrimSpace(qs.Get("tenant"))
		d.Q.Tenant = q.Tenant
		f.Tenant, f.AllTenants = q.Tenant, q.Tenant == ""
	}
	var ok1, ok2 bool
	f.Since, ok1 = formTime(q.Since)
	f.Until, ok2 = formTime(q.Until)
	if q.Status != "" && slices.Contains(statuses, q.Status) {
		f.Status = q.Status
	}
	if at, id := qs.Get("before_at"), qs.Get("before_id"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			ok1 = false
		}
		f.Before = &schema.Cursor{CreatedAt: t, ID: id}
	}
	d.Live = f.Before == nil
	if !ok1 || !ok2 {
		d.Problem = "A time could not be read: use the date picker, or YYYY-MM-DDTHH:MM (UTC)."
		s.render(w, r, sc, "deliveries", http.StatusBadRequest, "Deliveries", d)
		return
	}
	ds, err := s.Store.Deliveries(r.Context(), f)
	if err != nil {
		s.internal(w, r, sc, "deliveries", err)
		return
	}
	if len(ds) > deliveriesPerPage {
		ds, d.More = ds[:deliveriesPerPage], true
	}
	d.Deliveries = ds
	s.render(w, r, sc, "deliveries", http.StatusOK, "Deliveries", d)
}

// header is a request header as the console shows it.
type header struct{ Name, Value string }

type attemptView struct {
	schema.AttemptRecord
	Request []header
}

type deliveryData struct {
	Delivery schema.Delivery
	Event    *schema.StoredEvent
	Attempts []attemptView
	Endpoint *schema.Endpoint
}

func (s *Server) deliveryPage(w http.ResponseWriter, r *http.Request, sc scope) {
	ctx := r.Context()
	ds, err := s.Store.Deliveries(ctx, schema.DeliveryFilter{Tenant: sc.Tenant, ID: r.PathValue("id"), Limit: 1})
	if err != nil {
		s.internal(w, r, sc, "delivery", err)
		return
	}
	if len(ds) == 0 {
		s.fail(w, r, sc, http.StatusNotFound, "There is no such delivery.")
		return
	}
	d := deliveryData{Delivery: ds[0]}
	if ev, err := s.Store.StoredEvent(ctx, sc.Tenant, d.Delivery.EventID); err == nil {
		d.Event = &ev
	} else if !errors.Is(err, schema.ErrNotFound) {
		s.internal(w, r, sc, "event", err)
		return
	}
	if ep, err := s.Store.Endpoint(ctx, sc.Tenant, d.Delivery.EndpointID); err == nil {
		d.Endpoint = &ep
	} else if !errors.Is(err, schema.ErrNotFound) {
		s.internal(w, r, sc, "endpoint", err)
		return
	}
	as, err := s.Store.Attempts(ctx, sc.Tenant, d.Delivery.ID)
	if err != nil {
		s.internal(w, r, sc, "attempts", err)
		return
	}
	for i := len(as) - 1; i >= 0; i-- { // newest first
		d.Attempts = append(d.Attempts, attemptView{AttemptRecord: as[i], Request: requestHeaders(d.Delivery, as[i], d.Endpoint)})
	}
	s.render(w, r, sc, "delivery", http.StatusOK, "Delivery "+d.Delivery.ID, d)
}

// requestHeaders are the headers an attempt was sent with, as far as they
// are known without its secrets: the signature and the values of the
// endpoint's custom headers are never shown.
func requestHeaders(d schema.Delivery, a schema.AttemptRecord, ep *schema.Endpoint) []header {
	unix := a.At.Unix()
	hs := []header{
		{"Content-Type", "application/json"},
		{"webhook-id", d.ID},
		{"webhook-timestamp", itoa64(unix) + " (about: the attempt's start)"},
		{"webhook-signature", "v1,… (signed with the endpoint's secret: not shown)"},
		{"X-Webhook-Attempt", itoa64(int64(a.Attempt))},
		{"X-Webhook-Event-Type", d.EventType},
		{"X-Webhook-Event-Id", d.EventID},
	}
	if ep != nil {
		for _, n := range ep.HeaderNames {
			hs = append(hs, header{n, "(custom header: value not shown)"})
		}
	}
	return hs
}

type jobData struct {
	Job     schema.Job
	Handled int
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request, sc scope) {
	j, err := s.Store.Job(r.Context(), sc.Tenant, r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		s.fail(w, r, sc, http.StatusNotFound, "There is no such job.")
		return
	}
	if err != nil {
		s.internal(w, r, sc, "job", err)
		return
	}
	s.render(w, r, sc, "job", http.StatusOK, "Recovery", jobData{Job: j, Handled: j.Done + j.Failed + j.Skipped})
}

// eventTypesPerPage bounds a page of the catalog.
const eventTypesPerPage = 100

type eventTypesData struct {
	Types []schema.EventType
	Next  string
}

// eventTypesPage shows the tenant's catalog: what its endpoints can
// subscribe to, with each type's schema and example.
func (s *Server) eventTypesPage(w http.ResponseWriter, r *http.Request, sc scope) {
	ts, err := s.Store.EventTypes(r.Context(), sc.Tenant, r.URL.Query().Get("after"), eventTypesPerPage+1)
	if err != nil {
		s.internal(w, r, sc, "event types", err)
		return
	}
	d := eventTypesData{Types: ts}
	if len(ts) > eventTypesPerPage {
		d.Types = ts[:eventTypesPerPage]
		d.Next = ts[eventTypesPerPage-1].Name
	}
	s.render(w, r, sc, "eventtypes", http.StatusOK, "Event types", d)
}
