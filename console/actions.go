package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// recorder keeps the API's answer to a call of the console.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// apiError is an API call's problem, as a page shows it.
type apiError struct {
	Status int
	Detail string
}

// call makes an API call as the admin on a tenant ("" for the admin's own
// routes), with body as JSON (nil: none), and decodes a 2xx answer into
// out (when not nil).
func (s *Server) call(ctx context.Context, tenant, method, path string, body, out any) *apiError {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &apiError{Status: http.StatusInternalServerError, Detail: "the request could not be encoded"}
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Detail: "that is not a valid id"}
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	if tenant != "" {
		req.Header.Set("X-Hookstream-Tenant", tenant)
	}
	rec := &recorder{header: http.Header{}}
	s.API.ServeHTTP(rec, req)
	if rec.status >= 200 && rec.status < 300 {
		if out != nil {
			if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
				return &apiError{Status: http.StatusBadGateway, Detail: "the API's answer could not be read"}
			}
		}
		return nil
	}
	var p struct {
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(rec.body.Bytes(), &p)
	if p.Detail == "" {
		p.Detail = http.StatusText(rec.status)
	}
	return &apiError{Status: rec.status, Detail: p.Detail}
}

// path builds an API path from fixed parts and ids (escaped).
func path(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			p = url.PathEscape(p)
		}
		b.WriteString(p)
	}
	return b.String()
}

// failed shows an API call's problem on a page.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, sc scope, what string, e *apiError) {
	s.fail(w, r, sc, e.Status, what+" failed: "+e.Detail)
}

// done sends the browser to a page with a notice.
func done(w http.ResponseWriter, r *http.Request, to, notice string) {
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	http.Redirect(w, r, to+sep+"done="+notice, http.StatusSeeOther)
}

// eventTypes splits a form's list of event types (commas, spaces or lines).
func eventTypes(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

type endpointJSON struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

type secretData struct {
	EndpointID string
	Secret     string
	Rotated    bool
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, sc scope) {
	body := map[string]any{"url": strings.TrimSpace(r.PostForm.Get("url")), "event_types": eventTypes(r.PostForm.Get("event_types")),
		"description": r.PostForm.Get("description")}
	var ep endpointJSON
	if e := s.call(r.Context(), sc.Tenant, http.MethodPost, "/v1/endpoints", body, &ep); e != nil {
		s.failed(w, r, sc, "Creating the endpoint", e)
		return
	}
	s.render(w, r, sc, "secret", http.StatusCreated, "Endpoint created", secretData{EndpointID: ep.ID, Secret: ep.Secret})
}

func (s *Server) updateEndpoint(w http.ResponseWriter, r *http.Request, sc scope) {
	id := r.PathValue("id")
	body := map[string]any{"description": r.PostForm.Get("description"), "event_types": eventTypes(r.PostForm.Get("event_types"))}
	if u := strings.TrimSpace(r.PostForm.Get("url")); u != "" {
		body["url"] = u
	}
	if e := s.call(r.Context(), sc.Tenant, http.MethodPatch, path("/v1/endpoints/", id), body, nil); e != nil {
		s.failed(w, r, sc, "Saving the endpoint", e)
		return
	}
	done(w, r, sc.Base+path("/endpoints/", id), "updated")
}

// pauseFor are the choices of the pause form ("": until resumed).
var pauseFor = map[string]time.Duration{"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour}

// recoverSince are the choices of the recover form.
var recoverSince = map[string]time.Duration{"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (s *Server) endpointAction(w http.ResponseWriter, r *http.Request, sc scope) {
	ctx, id := r.Context(), r.PathValue("id")
	page := sc.Base + path("/endpoints/", id)
	switch action := r.PathValue("action"); action {
	case "enable", "disable", "resume":
		if e := s.call(ctx, sc.Tenant, http.MethodPost, path("/v1/endpoints/", id, "/"+action), nil, nil); e != nil {
			s.failed(w, r, sc, "Changing the endpoint's state", e)
			return
		}
		done(w, r, page, action+"d")
	case "pause":
		body := map[string]any{}
		switch v := r.PostForm.Get("for"); v {
		case "":
		default:
			d, ok := pauseFor[v]
			if !ok {
				s.fail(w, r, sc, http.StatusBadRequest, "Choose how long to pause.")
				return
			}
			body["until"] = s.Now().Add(d).UTC().Format(time.RFC3339)
		}
		if e := s.call(ctx, sc.Tenant, http.MethodPost, path("/v1/endpoints/", id, "/pause"), body, nil); e != nil {
			s.failed(w, r, sc, "Pausing the endpoint", e)
			return
		}
		done(w, r, page, "paused")
	case "rotate":
		var ep endpointJSON
		if e := s.call(ctx, sc.Tenant, http.MethodPost, path("/v1/endpoints/", id, "/rotate-secret"), map[string]any{}, &ep); e != nil {
			s.failed(w, r, sc, "Rotating the secret", e)
			return
		}
		s.render(w, r, sc, "secret", http.StatusOK, "Secret rotated", secretData{EndpointID: id, Secret: ep.Secret, Rotated: true})
	case "recover":
		since, ok := recoverSince[r.PostForm.Get("since")]
		if !ok {
			s.fail(w, r, sc, http.StatusBadRequest, "Choose how far back to recover.")
			return
		}
		var job struct {
			ID string `json:"id"`
		}
		at := s.Now().Add(-since).UTC().Format(time.RFC3339)
		if e := s.call(ctx, sc.Tenant, http.MethodPost, path("/v1/endpoints/", id, "/recover"), map[string]any{"since": at}, &job); e != nil {
			s.failed(w, r, sc, "Starting the recovery", e)
			return
		}
		http.Redirect(w, r, sc.Base+path("/jobs/", job.ID), http.StatusSeeOther)
	case "delete":
		if e := s.call(ctx, sc.Tenant, http.MethodDelete, path("/v1/endpoints/", id), nil, nil); e != nil {
			s.failed(w, r, sc, "Deleting the endpoint", e)
			return
		}
		done(w, r, sc.Base+"/", "deleted")
	case "test":
		// To this endpoint only: the API narrows the event's fan-out.
		body := map[string]any{"data": json.RawMessage(`{"test":true,"sent_from":"hookstream console"}`)}
		if typ := strings.TrimSpace(r.PostForm.Get("type")); typ != "" {
			body["type"] = typ
		}
		var sent struct {
			EventID string `json:"event_id"`
		}
		if e := s.call(ctx, sc.Tenant, http.MethodPost, path("/v1/endpoints/", id, "/test"), body, &sent); e != nil {
			s.failed(w, r, sc, "Sending the test event", e)
			return
		}
		done(w, r, sc.Base+"/deliveries?endpoint="+url.QueryEscape(id)+"&event="+url.QueryEscape(sent.EventID), "sent")
	default:
		s.fail(w, r, sc, http.StatusNotFound, "There is no such action.")
	}
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request, sc scope) {
	id := r.PathValue("id")
	if e := s.call(r.Context(), sc.Tenant, http.MethodPost, path("/v1/deliveries/", id, "/retry"), nil, nil); e != nil {
		s.failed(w, r, sc, "Retrying the delivery", e)
		return
	}
	done(w, r, sc.Base+path("/deliveries/", id), "retried")
}

// skip resolves the head of an ordering key without sending it: the next
// delivery of its key goes on (POST /v1/deliveries/{id}/skip).
func (s *Server) skip(w http.ResponseWriter, r *http.Request, sc scope) {
	id := r.PathValue("id")
	if e := s.call(r.Context(), sc.Tenant, http.MethodPost, path("/v1/deliveries/", id, "/skip"), nil, nil); e != nil {
		s.failed(w, r, sc, "Skipping the delivery", e)
		return
	}
	done(w, r, sc.Base+path("/deliveries/", id), "skipped")
}

// haltedAction retries or skips the head of a halted key from the halted
// keys page (POST /v1/deliveries/{id}/retry or /skip), and comes back to it.
func (s *Server) haltedAction(w http.ResponseWriter, r *http.Request, sc scope) {
	id, head := r.PathValue("id"), r.PathValue("delivery")
	action := r.PathValue("action")
	what := map[string]string{"retry": "Retrying the head", "skip": "Skipping the head"}[action]
	if what == "" {
		s.fail(w, r, sc, http.StatusNotFound, "There is no such action.")
		return
	}
	if e := s.call(r.Context(), sc.Tenant, http.MethodPost, path("/v1/deliveries/", head, "/"+action), nil, nil); e != nil {
		s.failed(w, r, sc, what, e)
		return
	}
	done(w, r, sc.Base+path("/endpoints/", id, "/halted"), map[string]string{"retry": "retried", "skip": "skipped"}[action])
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, sc scope) {
	body := map[string]any{"name": r.PostForm.Get("name")}
	if id := strings.TrimSpace(r.PostForm.Get("id")); id != "" {
		body["id"] = id
	}
	var t struct {
		ID string `json:"id"`
	}
	if e := s.call(r.Context(), "", http.MethodPost, "/v1/tenants", body, &t); e != nil {
		s.failed(w, r, sc, "Creating the tenant", e)
		return
	}
	done(w, r, "/console/t/"+url.PathEscape(t.ID)+"/", "created")
}

// saveSettings sets the origins that may frame the tenant's portal.
func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request, sc scope) {
	origins := append([]string{}, strings.Fields(r.PostForm.Get("frame_ancestors"))...)
	if e := s.call(r.Context(), sc.Tenant, http.MethodPut, "/v1/portal-settings", map[string]any{"frame_ancestors": origins}, nil); e != nil {
		s.failed(w, r, sc, "Saving the portal's settings", e)
		return
	}
	done(w, r, sc.Base+"/", "saved")
}

// quarantined is a record of the quarantine as the API lists it.
type quarantined struct {
	ID            string     `json:"id"`
	Stage         string     `json:"stage"`
	Reason        string     `json:"reason"`
	Topic         string     `json:"topic"`
	QuarantinedAt time.Time  `json:"quarantined_at"`
	RedrivenAt    *time.Time `json:"redriven_at"`
	Value         struct {
		Data      string `json:"data"`
		Encoding  string `json:"encoding"`
		Size      int    `json:"size"`
		Truncated bool   `json:"truncated"`
	} `json:"value"`
}

type quarantineData struct {
	Records []quarantined
	Next    string
}

func (s *Server) quarantinePage(w http.ResponseWriter, r *http.Request, sc scope) {
	var page struct {
		Data       []quarantined `json:"data"`
		NextCursor string        `json:"next_cursor"`
	}
	p := "/v1/quarantine?limit=50"
	if c := r.URL.Query().Get("cursor"); c != "" {
		p += "&cursor=" + url.QueryEscape(c)
	}
	if e := s.call(r.Context(), "", http.MethodGet, p, nil, &page); e != nil {
		s.failed(w, r, sc, "Listing the quarantine", e)
		return
	}
	s.render(w, r, sc, "quarantine", http.StatusOK, "Quarantine", quarantineData{Records: page.Data, Next: page.NextCursor})
}

func (s *Server) redrive(w http.ResponseWriter, r *http.Request, sc scope) {
	if e := s.call(r.Context(), "", http.MethodPost, path("/v1/quarantine/", r.PathValue("id"), "/redrive"), nil, nil); e != nil {
		s.failed(w, r, sc, "Putting the record back", e)
		return
	}
	done(w, r, "/console/quarantine", "redriven")
}
