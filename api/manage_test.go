package api_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/schema"
)

func createEndpoint(t *testing.T, base, body string) endpointView {
	t.Helper()
	var ep endpointView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints", body), http.StatusCreated, &ep)
	return ep
}

func TestUpdateEndpoint(t *testing.T) {
	base, _ := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["a.*"],"headers":{"X-One":"1"}}`)
	var got struct {
		endpointView
		UpdatedAt time.Time `json:"updated_at"`
	}
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID,
		`{"url":"https://user:pw@example.com/new?k=v","description":"new","event_types":["b.c"],"headers":{"X-Two":"2"},"timeout_ms":1234}`),
		http.StatusOK, &got)
	if got.URL != "https://example.com/new?…" || got.Description != "new" || !slices.Equal(got.EventTypes, []string{"b.c"}) ||
		!slices.Equal(got.HeaderNames, []string{"X-Two"}) || got.TimeoutMS != 1234 || got.Secret != "" {
		t.Errorf("patched = %+v", got)
	}
	before := got.UpdatedAt
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"description":"again"}`), http.StatusOK, &got)
	if got.URL != "https://example.com/new?…" || got.TimeoutMS != 1234 || got.Description != "again" || !got.UpdatedAt.After(before) {
		t.Errorf("a partial patch changed other fields or kept updated_at: %+v", got)
	}
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"headers":{}}`), http.StatusOK, &got)
	if len(got.HeaderNames) != 0 {
		t.Errorf("headers {} kept %v", got.HeaderNames)
	}
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"enabled":false}`), http.StatusOK, &got)
	if got.State != "disabled" {
		t.Errorf("enabled:false left state %q", got.State)
	}
	var replay struct {
		State    string `json:"state"`
		Replayed *int   `json:"replayed"`
	}
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"enabled":true}`), http.StatusOK, &replay)
	if replay.State != "enabled" || replay.Replayed == nil || *replay.Replayed != 0 {
		t.Errorf("enabled:true = %+v, want enabled with replayed 0", replay)
	}

	tests := []struct {
		name, body, field string
		status            int
	}{
		{"secret", `{"secret":"whsec_x"}`, "secret", 422},
		{"empty url", `{"url":""}`, "url", 422},
		{"plain http to a public host", `{"url":"http://example.com/x"}`, "url", 422},
		{"private address", `{"url":"https://10.0.0.1/x"}`, "url", 422},
		{"empty event_types", `{"event_types":[]}`, "event_types", 422},
		{"bad pattern", `{"event_types":["a*"]}`, "event_types", 422},
		{"reserved header", `{"headers":{"webhook-id":"x"}}`, "headers", 422},
		{"timeout 0", `{"timeout_ms":0}`, "timeout_ms", 422},
		{"description too long", `{"description":"` + strings.Repeat("x", 1025) + `"}`, "description", 422},
		{"unknown field", `{"colour":"red"}`, "colour", 400},
		{"wrong type", `{"enabled":"yes"}`, "enabled", 400},
		{"not an object", `[]`, "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, tt.body), tt.status, tt.field)
		})
	}
	assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/ep_nope", `{"description":"x"}`), http.StatusNotFound, "")
}

func TestHTTPSRequiredOutsideTheAllowList(t *testing.T) {
	base, _ := newServer(t)
	assertProblem(t, call(t, "POST", base+"/v1/endpoints", `{"url":"http://example.com/x","event_types":["*"]}`), 422, "url")
	createEndpoint(t, base, `{"url":"https://example.com/x","event_types":["*"]}`)
	createEndpoint(t, base, `{"url":"http://localhost:9/x","event_types":["*"]}`) // loopback is allowed here
}

func TestDeleteEndpoint(t *testing.T) {
	base, _ := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	r := call(t, "DELETE", base+"/v1/endpoints/"+ep.ID, "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE = %d %q, want 204 with no body", r.status, r.body)
	}
	assertProblem(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""), http.StatusNotFound, "")
	assertProblem(t, call(t, "DELETE", base+"/v1/endpoints/"+ep.ID, ""), http.StatusNotFound, "")
}

func TestRotateSecret(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	var rot struct {
		endpointView
		PreviousSecretUntil *time.Time `json:"previous_secret_until"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", ""), http.StatusOK, &rot)
	if _, err := delivery.ParseSecret(rot.Secret); err != nil || rot.Secret == ep.Secret {
		t.Fatalf("rotated secret %q: %v", rot.Secret, err)
	}
	if rot.PreviousSecretUntil == nil || time.Until(*rot.PreviousSecretUntil) < 23*time.Hour {
		t.Errorf("previous_secret_until = %v, want about 24h from now", rot.PreviousSecretUntil)
	}
	stored, err := e.db.SendableEndpoint(t.Context(), ep.ID)
	must(t, err)
	if !slices.Equal(stored.Secrets, []string{rot.Secret, ep.Secret}) {
		t.Errorf("stored secrets are not [new, previous]")
	}

	// A fresh secret each run: the suite's secret scan spans every run of
	// -count, and a secret shown by two runs would count as a leak.
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	supplied := "whsec_" + base64.StdEncoding.EncodeToString(key)
	var rot2 struct {
		Secret              string     `json:"secret"`
		PreviousSecretUntil *time.Time `json:"previous_secret_until"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", `{"secret":"`+supplied+`","overlap_seconds":0}`), http.StatusOK, &rot2)
	if rot2.Secret != supplied || rot2.PreviousSecretUntil != nil {
		t.Errorf("rotation without overlap = %+v", rot2)
	}
	stored, err = e.db.SendableEndpoint(t.Context(), ep.ID)
	must(t, err)
	if !slices.Equal(stored.Secrets, []string{supplied}) {
		t.Errorf("after a rotation without overlap, %d secrets sign", len(stored.Secrets))
	}
	var got endpointView
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""), http.StatusOK, &got)
	if got.Secret != "" {
		t.Error("GET shows the secret after rotation")
	}
	for _, bad := range []struct{ body, field string }{
		{`{"overlap_seconds":-1}`, "overlap_seconds"},
		{`{"overlap_seconds":604801}`, "overlap_seconds"},
		{`{"secret":"nope"}`, "secret"},
	} {
		assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", bad.body), 422, bad.field)
	}
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", `{"overlap":1}`), 400, "overlap")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/ep_nope/rotate-secret", ""), http.StatusNotFound, "")
}

func TestEnableDisableRoutes(t *testing.T) {
	base, _ := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	var st struct {
		State    string `json:"state"`
		Reason   string `json:"disabled_reason"`
		Replayed int    `json:"replayed"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/disable", ""), http.StatusOK, &st)
	if st.State != "disabled" || st.Reason == "" {
		t.Errorf("disable = %+v", st)
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/enable", ""), http.StatusOK, &st)
	if st.State != "enabled" {
		t.Errorf("enable = %+v", st)
	}
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/ep_nope/enable", ""), http.StatusNotFound, "")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTestEndpoint(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["order.*","invoice.paid"]}`)
	var sent struct {
		EventID    string `json:"event_id"`
		DeliveryID string `json:"delivery_id"`
		EndpointID string `json:"endpoint_id"`
		Type       string `json:"type"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/test", ""), http.StatusAccepted, &sent)
	if sent.Type != "invoice.paid" || sent.EndpointID != ep.ID || sent.DeliveryID != schema.DeliveryID("default", sent.EventID, ep.ID) {
		t.Errorf("test event answered %+v; want the first exact type and the delivery's stable id", sent)
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/test", `{"type":"order.shipped","data":[1]}`), http.StatusAccepted, &sent)
	evs := e.topicEvents(t, 2)
	if evs[0].EndpointID != ep.ID || string(evs[0].Data) != `{"test":true}` ||
		evs[1].EndpointID != ep.ID || evs[1].Type != "order.shipped" || string(evs[1].Data) != `[1]` {
		t.Errorf("the events topic holds %+v; want both for %s only, with the default and the given data", evs, ep.ID)
	}

	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/test", `{"type":"user.created"}`), http.StatusUnprocessableEntity, "type")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/test", `{"type":"order.*"}`), http.StatusUnprocessableEntity, "type")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/test", `{"data":null}`), http.StatusUnprocessableEntity, "data")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/test", `{"type":7}`), http.StatusBadRequest, "type")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/ep_missing/test", ""), http.StatusNotFound, "")
	// Another tenant cannot reach it, whatever id it names.
	decodeJSON(t, call(t, "POST", base+"/v1/tenants", `{"id":"acme","name":"Acme"}`), http.StatusCreated, &struct{}{})
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/test", "", "X-Hookstream-Tenant", "acme"), http.StatusNotFound, "")
}
