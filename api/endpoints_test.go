package api_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hookstream/hookstream/delivery"
)

type endpointView struct {
	ID          string   `json:"id"`
	Tenant      string   `json:"tenant"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	EventTypes  []string `json:"event_types"`
	HeaderNames []string `json:"header_names"`
	TimeoutMS   int64    `json:"timeout_ms"`
	State       string   `json:"state"`
	Secret      string   `json:"secret"`
}

type endpointPage struct {
	Data       []endpointView `json:"data"`
	NextCursor string         `json:"next_cursor"`
}

func listEndpoints(t *testing.T, base, query string) endpointPage {
	t.Helper()
	var page endpointPage
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints"+query, ""), http.StatusOK, &page)
	return page
}

func TestCreateEndpoint(t *testing.T) {
	base, _ := newServer(t)
	r := call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/x","description":"billing","event_types":["invoice.*","user.created"],"timeout_ms":2500}`)
	var ep endpointView
	decodeJSON(t, r, http.StatusCreated, &ep)
	if !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Errorf("secret = %q, want a whsec_ secret", ep.Secret)
	} else if _, err := delivery.ParseSecret(ep.Secret); err != nil {
		t.Errorf("secret does not parse: %v", err)
	}
	if loc := r.header.Get("Location"); loc != "/v1/endpoints/"+ep.ID || ep.ID == "" {
		t.Errorf("Location = %q, want /v1/endpoints/%s", loc, ep.ID)
	}
	if ep.Tenant != "default" || ep.URL != "http://127.0.0.1:9/x" || ep.Description != "billing" ||
		!slices.Equal(ep.EventTypes, []string{"invoice.*", "user.created"}) || ep.TimeoutMS != 2500 || ep.State != "enabled" {
		t.Errorf("created = %+v", ep)
	}

	var got endpointView
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""), http.StatusOK, &got)
	if got.ID != ep.ID || got.Secret != "" || got.TimeoutMS != 2500 {
		t.Errorf("GET = %+v, want the endpoint without its secret", got)
	}
	assertProblem(t, call(t, "GET", base+"/v1/endpoints/ep_unknown", ""), http.StatusNotFound, "")
}

func TestEndpointSecretsNeverShown(t *testing.T) {
	base, _ := newServer(t)
	const (
		password = "s3cr3tpassw0rd"
		query    = "tok3nvalu3"
		hdrValue = "hdrv4lu3s3cr3t"
	)
	r := call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://user:`+password+`@127.0.0.1:9/x?token=`+query+`","event_types":["*"],"headers":{"X-Api-Key":"`+hdrValue+`"}}`)
	var ep endpointView
	decodeJSON(t, r, http.StatusCreated, &ep)
	if ep.URL != "http://127.0.0.1:9/x?…" {
		t.Errorf("created url = %q, want it redacted to http://127.0.0.1:9/x?…", ep.URL)
	}
	if !slices.Equal(ep.HeaderNames, []string{"X-Api-Key"}) {
		t.Errorf("header_names = %v, want [X-Api-Key]", ep.HeaderNames)
	}
	for _, leak := range []string{password, query, hdrValue, "user:"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("create response contains %q: %s", leak, r.body)
		}
	}

	later := []response{
		call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""),
		call(t, "GET", base+"/v1/endpoints", ""),
		call(t, "GET", base+"/v1/endpoints?limit=1", ""),
	}
	for _, resp := range later {
		if resp.status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		for _, leak := range []string{password, query, hdrValue, ep.Secret, strings.TrimPrefix(ep.Secret, "whsec_"), `"secret"`} {
			if strings.Contains(string(resp.body), leak) {
				t.Errorf("later response contains %q: %s", leak, resp.body)
			}
		}
	}
}

func TestSuppliedSecret(t *testing.T) {
	base, _ := newServer(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	var ep endpointView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/x","event_types":["*"],"secret":"`+secret+`"}`), http.StatusCreated, &ep)
	if ep.Secret != secret {
		t.Errorf("secret = %q, want the supplied one", ep.Secret)
	}

	for _, bad := range []string{"whsec_c2hvcnQ=", "whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))} {
		r := call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/x","event_types":["*"],"secret":"`+bad+`"}`)
		p := assertProblem(t, r, http.StatusUnprocessableEntity, "secret")
		if strings.Contains(p.Detail, bad) {
			t.Errorf("problem repeats the rejected secret: %q", p.Detail)
		}
	}
	if n := len(listEndpoints(t, base, "").Data); n != 1 {
		t.Errorf("endpoints = %d, want only the accepted one", n)
	}
}

func TestCreateEndpointRejects(t *testing.T) {
	base, e := newServer(t)
	strict := e.serve(t, delivery.Guard{}) // no allow-list
	const valid = `"url":"http://127.0.0.1:9/x","event_types":["*"]`
	tests := []struct {
		name   string
		server string
		body   string
		status int
		field  string
	}{
		{"malformed JSON", base, `{"url":`, 400, ""},
		{"syntax error", base, `{"url" "x"}`, 400, ""},
		{"unknown field", base, `{` + valid + `,"colour":"red"}`, 400, "colour"},
		{"url wrong type", base, `{"url":5,"event_types":["*"]}`, 400, "url"},
		{"event_types wrong type", base, `{"url":"http://127.0.0.1:9/x","event_types":"*"}`, 400, "event_types"},
		{"timeout wrong type", base, `{` + valid + `,"timeout_ms":"100"}`, 400, "timeout_ms"},
		{"headers wrong type", base, `{` + valid + `,"headers":["X-A"]}`, 400, "headers"},
		{"array body", base, `[{` + valid + `}]`, 400, ""},
		{"empty body", base, ``, 400, ""},
		{"two JSON objects", base, `{` + valid + `}{}`, 400, ""},
		{"trailing garbage", base, `{` + valid + `} x`, 400, ""},
		{"body over 64 KiB", base, `{"url":"http://127.0.0.1:9/` + strings.Repeat("x", 70<<10) + `","event_types":["*"]}`, 413, ""},
		{"missing url", base, `{"event_types":["*"]}`, 422, "url"},
		{"ftp url", base, `{"url":"ftp://127.0.0.1/x","event_types":["*"]}`, 422, "url"},
		{"relative url", base, `{"url":"/x","event_types":["*"]}`, 422, "url"},
		{"private address without allow-list", strict, `{"url":"http://10.0.0.1/x","event_types":["*"]}`, 422, "url"},
		{"loopback without allow-list", strict, `{"url":"http://127.0.0.1:9/x","event_types":["*"]}`, 422, "url"},
		{"missing event_types", base, `{"url":"http://127.0.0.1:9/x"}`, 422, "event_types"},
		{"empty event_types", base, `{"url":"http://127.0.0.1:9/x","event_types":[]}`, 422, "event_types"},
		{"bad pattern", base, `{"url":"http://127.0.0.1:9/x","event_types":["invoice.*","inv*"]}`, 422, "event_types"},
		{"reserved header", base, `{` + valid + `,"headers":{"webhook-signature":"v1,x"}}`, 422, "headers"},
		{"reserved header canonical", base, `{` + valid + `,"headers":{"Content-Type":"text/plain"}}`, 422, "headers"},
		{"bad header name", base, `{` + valid + `,"headers":{"X A":"1"}}`, 422, "headers"},
		{"header value with newline", base, `{` + valid + `,"headers":{"X-A":"1\r\nX-B: 2"}}`, 422, "headers"},
		{"timeout 0", base, `{` + valid + `,"timeout_ms":0}`, 422, "timeout_ms"},
		{"timeout 100000", base, `{` + valid + `,"timeout_ms":100000}`, 422, "timeout_ms"},
		{"negative timeout", base, `{` + valid + `,"timeout_ms":-5}`, 422, "timeout_ms"},
		{"description too long", base, `{` + valid + `,"description":"` + strings.Repeat("d", 1025) + `"}`, 422, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "POST", tt.server+"/v1/endpoints", tt.body)
			assertProblem(t, r, tt.status, tt.field)
		})
	}
	if n := len(listEndpoints(t, base, "").Data); n != 0 {
		t.Errorf("rejected requests created %d endpoints", n)
	}
}

func TestListEndpointsPages(t *testing.T) {
	base, _ := newServer(t)
	var ids []string
	for range 5 {
		var ep endpointView
		decodeJSON(t, call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/x","event_types":["*"]}`), http.StatusCreated, &ep)
		ids = append(ids, ep.ID)
	}
	slices.Sort(ids)
	var got []string
	query := "?limit=2"
	for range 10 {
		page := listEndpoints(t, base, query)
		for _, ep := range page.Data {
			got = append(got, ep.ID)
		}
		if page.NextCursor == "" {
			break
		}
		query = "?limit=2&cursor=" + page.NextCursor
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged ids = %v, want %v", got, ids)
	}
	for _, limit := range []string{"0", "501", "abc", "-1"} {
		assertProblem(t, call(t, "GET", base+"/v1/endpoints?limit="+limit, ""), http.StatusBadRequest, "limit")
	}
}
