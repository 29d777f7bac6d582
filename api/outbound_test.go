package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hookstream/hookstream/delivery"
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
