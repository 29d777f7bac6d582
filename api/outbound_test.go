package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/schema"
)

// outboundView is an endpoint's outbound fields as the API shows them.
type outboundView struct {
	endpointView
	PayloadFormat     string `json:"payload_format"`
	SignatureScheme   string `json:"signature_scheme"`
	PublicKey         string `json:"public_key"`
	PreviousPublicKey string `json:"previous_public_key"`
}

// TestEd25519Endpoint checks an endpoint that signs with Ed25519: the
// API shows its public key and never its private key, the stored key is
// the one whose public key was shown, and rotation keeps the previous key
// (of either scheme) signing during the overlap.
func TestEd25519Endpoint(t *testing.T) {
	base, e := newServer(t)
	var ep outboundView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/a","event_types":["*"],"signature_scheme":"ed25519"}`), http.StatusCreated, &ep)
	if ep.Secret != "" || ep.SignatureScheme != "ed25519" || !strings.HasPrefix(ep.PublicKey, "whpk_") || ep.PayloadFormat != "data" {
		t.Fatalf("created = %+v: want an ed25519 endpoint with a public key and no secret", ep)
	}
	stored, err := e.db.SendableEndpoint(t.Context(), ep.ID)
	must(t, err)
	if pub, err := delivery.PublicKey(stored.Secrets[0]); err != nil || pub != ep.PublicKey {
		t.Fatalf("the stored private key's public key is not the one shown (%v)", err)
	}
	var got outboundView
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""), http.StatusOK, &got)
	if got.PublicKey != ep.PublicKey || got.SignatureScheme != "ed25519" {
		t.Errorf("GET = %+v, want the public key shown", got)
	}

	// Rotation keeps the scheme; the previous public key stays shown, and
	// the previous private key signs, for the overlap.
	var rot outboundView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", ""), http.StatusOK, &rot)
	if rot.Secret != "" || rot.SignatureScheme != "ed25519" || rot.PublicKey == ep.PublicKey || rot.PreviousPublicKey != ep.PublicKey {
		t.Fatalf("rotated = %+v", rot)
	}
	stored, err = e.db.SendableEndpoint(t.Context(), ep.ID)
	must(t, err)
	if len(stored.Secrets) != 2 || !strings.HasPrefix(stored.Secrets[1], "whsk_") {
		t.Fatalf("after rotation %d keys sign", len(stored.Secrets))
	}

	// Rotating to HMAC shows the new whsec_ once; the Ed25519 key still
	// signs during the overlap.
	var back outboundView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", `{"signature_scheme":"hmac-sha256"}`), http.StatusOK, &back)
	if !strings.HasPrefix(back.Secret, "whsec_") || back.SignatureScheme != "hmac-sha256" || back.PublicKey != "" || back.PreviousPublicKey != rot.PublicKey {
		t.Fatalf("rotated to hmac = %+v", back)
	}
	// And back to Ed25519, without overlap: one key, no previous one.
	var again outboundView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", `{"signature_scheme":"ed25519","overlap_seconds":0}`), http.StatusOK, &again)
	if again.Secret != "" || again.PublicKey == "" || again.PreviousPublicKey != "" {
		t.Fatalf("rotated to ed25519 without overlap = %+v", again)
	}

	// A supplied private key (moving from another sender) is taken, and
	// its public key shown; it is never shown back.
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	supplied := "whsk_" + base64.StdEncoding.EncodeToString(seed)
	wantPub := "whpk_" + base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	var imp outboundView
	r := call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/a","event_types":["*"],"secret":"`+supplied+`"}`)
	decodeJSON(t, r, http.StatusCreated, &imp)
	if imp.PublicKey != wantPub || imp.SignatureScheme != "ed25519" || strings.Contains(string(r.body), "whsk_") {
		t.Fatalf("imported key: %+v", imp)
	}

	for _, bad := range []struct{ body, field string }{
		{`{"url":"http://127.0.0.1:9/a","event_types":["*"],"signature_scheme":"rsa"}`, "signature_scheme"},
		{`{"url":"http://127.0.0.1:9/a","event_types":["*"],"signature_scheme":"hmac-sha256","secret":"` + supplied + `"}`, "secret"},
		{`{"url":"http://127.0.0.1:9/a","event_types":["*"],"secret":"whsk_AAAA"}`, "secret"},
		{`{"url":"http://127.0.0.1:9/a","event_types":["*"],"secret":"` + wantPub + `"}`, "secret"},
	} {
		assertProblem(t, call(t, "POST", base+"/v1/endpoints", bad.body), 422, bad.field)
	}
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/rotate-secret", `{"signature_scheme":"v1a"}`), 422, "signature_scheme")
	assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"signature_scheme":"hmac-sha256"}`), 422, "signature_scheme")
}

func TestPayloadFormatField(t *testing.T) {
	base, e := newServer(t)
	var ep outboundView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/a","event_types":["*"],"payload_format":"cloudevents-structured"}`), http.StatusCreated, &ep)
	if ep.PayloadFormat != "cloudevents-structured" || ep.SignatureScheme != "hmac-sha256" || ep.PublicKey != "" {
		t.Fatalf("created = %+v", ep)
	}
	var got outboundView
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"payload_format":"standard-webhooks"}`), http.StatusOK, &got)
	if got.PayloadFormat != "standard-webhooks" {
		t.Fatalf("patched format = %q", got.PayloadFormat)
	}
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"description":"x"}`), http.StatusOK, &got)
	if got.PayloadFormat != "standard-webhooks" {
		t.Fatalf("a patch without payload_format changed it to %q", got.PayloadFormat)
	}
	stored, err := e.db.SendableEndpoint(t.Context(), ep.ID)
	must(t, err)
	if stored.PayloadFormat != "standard-webhooks" {
		t.Fatalf("stored format %q", stored.PayloadFormat)
	}
	var list struct {
		Data []outboundView `json:"data"`
	}
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints", ""), http.StatusOK, &list)
	if !slices.ContainsFunc(list.Data, func(v outboundView) bool { return v.PayloadFormat == "standard-webhooks" }) {
		t.Fatal("the list does not show the format")
	}
	for _, bad := range []string{`"cloudevents"`, `""`, `"DATA"`} {
		assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"payload_format":`+bad+`}`), 422, "payload_format")
	}
	assertProblem(t, call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/a","event_types":["*"],"payload_format":"json"}`), 422, "payload_format")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/a","event_types":["*"],"headers":{"ce-id":"x"}}`), 422, "headers")
}

// A filter is compiled when it is saved: one that does not compile gets a
// 422 naming the field and the position of the error; a good one is
// stored and shown; "" removes it.
func TestFilterField(t *testing.T) {
	base, e := newServer(t)
	var ep struct {
		outboundView
		Filter string `json:"filter"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/a","event_types":["*"],"filter":"data.amount > 100"}`), http.StatusCreated, &ep)
	if ep.Filter != "data.amount > 100" {
		t.Fatalf("filter shown %q", ep.Filter)
	}
	stored, err := e.db.SendableEndpoint(t.Context(), ep.ID)
	must(t, err)
	if stored.Filter != "data.amount > 100" {
		t.Fatalf("filter stored %q", stored.Filter)
	}
	tests := []struct {
		name, filter string
		line, column int
	}{
		{"syntax", `type == \"a\" &&`, 1, 15},
		{"second line", `type == \"a\" &&\n data.x ==`, 2, 11},
		{"undeclared", `typ == \"a\"`, 1, 1},
		{"not a bool", `size(data)`, 1, 1},
		{"deep", strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200), 0, 0},
		{"huge", strings.Repeat("a", 5000), 0, 0},
		{"NUL", `type == \"\u0000\"`, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []response{
				call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/a","event_types":["*"],"filter":"`+tt.filter+`"}`),
				call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"filter":"`+tt.filter+`"}`),
				call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/filter-test", `{"filter":"`+tt.filter+`"}`),
			} {
				var p struct {
					Status       int
					Field        string
					Line, Column int
					Detail       string
				}
				if err := json.Unmarshal(r.body, &p); err != nil || r.status != http.StatusUnprocessableEntity {
					t.Fatalf("answer %d %s, want a 422 problem", r.status, r.body)
				}
				if p.Field != "filter" || p.Line != tt.line || p.Column != tt.column {
					t.Errorf("problem %+v, want field filter at %d:%d", p, tt.line, tt.column)
				}
			}
		})
	}
	ep.Filter = "unchanged"
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"filter":""}`), http.StatusOK, &ep)
	if ep.Filter != "unchanged" { // absent from the answer: no filter
		t.Fatalf("filter \"\" left %q", ep.Filter)
	}
	stored, err = e.db.SendableEndpoint(t.Context(), ep.ID)
	must(t, err)
	if stored.Filter != "" {
		t.Fatalf("filter \"\" left %q stored", stored.Filter)
	}
}

// The filter test answers, for the tenant's latest events, which the
// endpoint is subscribed to and which its filter (or the body's) lets
// through, with the error of a filter that fails on an event; the
// unsaved form takes the event types too. Another tenant's events are
// never in it.
func TestFilterTest(t *testing.T) {
	base, e := newServer(t)
	now := time.Now().Add(-time.Hour)
	seed := func(tenant, id, typ, data string, at time.Time) {
		offsets++
		_, err := e.db.ClaimEvents(t.Context(), []schema.Claim{{Event: schema.Event{ID: id, Tenant: tenant, Type: typ,
			Data: json.RawMessage(data), CreatedAt: at}, Offset: offsets}})
		must(t, err)
	}
	seed(schema.DefaultTenant, "big", "invoice.paid", `{"amount":5000}`, now)
	seed(schema.DefaultTenant, "small", "invoice.paid", `{"amount":10}`, now.Add(time.Second))
	seed(schema.DefaultTenant, "noamount", "invoice.paid", `{"note":"x"}`, now.Add(2*time.Second))
	seed(schema.DefaultTenant, "user", "user.created", `{"amount":9000}`, now.Add(3*time.Second))
	_, err := e.db.CreateTenant(t.Context(), "other", "")
	must(t, err)
	seed("other", "theirs", "invoice.paid", `{"amount":99999}`, now.Add(4*time.Second))

	var ep outboundView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/a","event_types":["invoice.*"],"filter":"data.amount >= 1000"}`), http.StatusCreated, &ep)
	type result struct {
		Filter                     string
		Events, Subscribed, Passed int
		Data                       []struct {
			EventID            string `json:"event_id"`
			Subscribed, Passed bool
			Error              string
		}
	}
	var got result
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/filter-test", ""), http.StatusOK, &got)
	if got.Filter != "data.amount >= 1000" || got.Events != 4 || got.Subscribed != 3 || got.Passed != 1 {
		t.Fatalf("filter test = %+v", got)
	}
	want := map[string][3]any{ // subscribed, passed, error?
		"user": {false, false, false}, "noamount": {true, false, true}, "small": {true, false, false}, "big": {true, true, false},
	}
	for _, d := range got.Data {
		w, ok := want[d.EventID]
		if !ok || d.Subscribed != w[0] || d.Passed != w[1] || (d.Error != "") != w[2] {
			t.Errorf("%s: %+v, want %v", d.EventID, d, w)
		}
	}
	// Another filter, before saving it; limit takes the newest.
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/filter-test", `{"filter":"has(data.note)","limit":2}`), http.StatusOK, &got)
	if got.Events != 2 || got.Passed != 1 || got.Data[1].EventID != "noamount" || !got.Data[1].Passed {
		t.Fatalf("body's filter = %+v", got)
	}
	// No endpoint yet.
	decodeJSON(t, call(t, "POST", base+"/v1/filter-test", `{"filter":"data.amount > 1000","event_types":["user.*"]}`), http.StatusOK, &got)
	if got.Subscribed != 1 || got.Passed != 1 || got.Data[0].EventID != "user" {
		t.Fatalf("unsaved = %+v", got)
	}
	decodeJSON(t, call(t, "POST", base+"/v1/filter-test", `{"filter":"true"}`), http.StatusOK, &got)
	if got.Events != 4 || got.Passed != 4 {
		t.Fatalf("every type, no-op filter = %+v", got)
	}
	assertProblem(t, call(t, "POST", base+"/v1/filter-test", `{"event_types":["*"]}`), 422, "filter")
	assertProblem(t, call(t, "POST", base+"/v1/filter-test", `{"filter":"true","limit":201}`), 422, "limit")
	assertProblem(t, call(t, "POST", base+"/v1/filter-test", `{"filter":"true","event_types":["a*"]}`), 422, "event_types")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/filter-test", `{"event_types":["*"]}`), 422, "event_types")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/ep_nope/filter-test", ""), 404, "")
}
