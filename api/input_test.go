package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// What the OpenAPI fuzzer (scripts/api-fuzz) found, each as a request and
// the answer it must get: a NUL or invalid UTF-8 anywhere is a 4xx naming
// where it is, never a Postgres error; parameters and bodies are held to
// the document; what the document allows is accepted.
func TestRequestsHeldToTheDocument(t *testing.T) {
	base, _ := newServer(t)
	var ep struct {
		ID string `json:"id"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/x","event_types":["*"],"timeout_ms":5000.0}`), http.StatusCreated, &ep)
	decodeJSON(t, call(t, "POST", base+"/v1/tenants", `{"id":"acme"}`), http.StatusCreated, &struct{}{})
	epURL := base + "/v1/endpoints/" + ep.ID

	tests := []struct {
		name, method, url, body string
		headers                 []string
		status                  int
		field                   string
	}{
		// NUL and invalid UTF-8 in query parameters, path parameters,
		// headers and body strings.
		{"NUL in a tenant cursor", "GET", base + "/v1/tenants?cursor=%22%00Z%C2%8B", "", nil, 400, "cursor"},
		{"invalid UTF-8 in a tenant cursor", "GET", base + "/v1/tenants?cursor=a%FF", "", nil, 400, "cursor"},
		{"NUL in an endpoint cursor", "GET", base + "/v1/endpoints?cursor=ep_%00", "", nil, 400, "cursor"},
		{"NUL in a key cursor", "GET", base + "/v1/tenants/acme/keys?cursor=%00", "", nil, 400, "cursor"},
		{"NUL in an event cursor", "GET", base + "/v1/events?cursor=1.a%00", "", nil, 400, "cursor"},
		{"NUL in event_id", "GET", base + "/v1/deliveries?event_id=%00", "", nil, 400, "event_id"},
		{"invalid UTF-8 in event_id", "GET", base + "/v1/deliveries?event_id=%C3", "", nil, 400, "event_id"},
		{"NUL in an unknown parameter", "GET", base + "/v1/endpoints?x=%00", "", nil, 400, "x"},
		{"NUL in a parameter name", "GET", base + "/v1/endpoints?x%00=1", "", nil, 400, ""},
		{"malformed query", "GET", base + "/v1/endpoints?limit=%zz", "", nil, 400, ""},
		{"NUL in a tenant id", "GET", base + "/v1/tenants/%00", "", nil, 400, "id"},
		{"invalid UTF-8 in a tenant id", "POST", base + "/v1/tenants/%FF/keys", "", nil, 400, "id"},
		{"NUL in a key id", "POST", base + "/v1/tenants/acme/keys/key_%00/revoke", "", nil, 400, "key_id"},
		{"NUL in an endpoint id", "GET", base + "/v1/endpoints/%00", "", nil, 400, "id"},
		{"invalid UTF-8 in an endpoint id", "DELETE", base + "/v1/endpoints/ep_%FE", "", nil, 400, "id"},
		{"NUL in an event id", "GET", base + "/v1/events/a%00b", "", nil, 400, "id"},
		{"NUL in a delivery id", "POST", base + "/v1/deliveries/msg_%00/retry", "", nil, 400, "id"},
		{"NUL in a job id", "GET", base + "/v1/jobs/%00", "", nil, 400, "id"},
		{"invalid UTF-8 in X-Hookstream-Tenant", "GET", base + "/v1/endpoints", "", []string{"X-Hookstream-Tenant", "ac\xffme"}, 400, "X-Hookstream-Tenant"},
		{"X-Hookstream-Tenant not a tenant id", "GET", base + "/v1/endpoints", "", []string{"X-Hookstream-Tenant", "a b"}, 400, "X-Hookstream-Tenant"},
		{"NUL in a key name", "POST", base + "/v1/tenants/acme/keys", `{"name":"a\u0000b"}`, nil, 422, "name"},
		{"NUL in a tenant name", "POST", base + "/v1/tenants", `{"id":"nul","name":"\u0000"}`, nil, 422, "name"},
		{"NUL in a description", "PATCH", epURL, `{"description":"x\u0000"}`, nil, 422, "description"},
		{"NUL in a header name", "PATCH", epURL, `{"headers":{"X-A\u0000":"b"}}`, nil, 422, "headers"},
		{"NUL in an event type pattern", "PATCH", epURL, `{"event_types":["a\u0000"]}`, nil, 422, "event_types"},

		// Query parameters as the document has them.
		{"until empty", "GET", base + "/v1/events?until=", "", nil, 400, "until"},
		{"since not a date-time", "GET", base + "/v1/deliveries?since=2026-01-01", "", nil, 400, "since"},
		{"offset of 24 hours", "GET", base + "/v1/events?since=2026-01-01T00:00:00%2B24:00", "", nil, 400, "since"},
		{"decimal comma", "GET", base + "/v1/events?since=2026-01-01T00:00:00,5Z", "", nil, 400, "since"},
		{"leap second not at 23:59 UTC", "GET", base + "/v1/events?until=2016-12-31T22:59:60Z", "", nil, 400, "until"},
		{"limit empty", "GET", base + "/v1/endpoints?limit=", "", nil, 400, "limit"},
		{"limit with a sign", "GET", base + "/v1/tenants?limit=%2B5", "", nil, 400, "limit"},
		{"type empty", "GET", base + "/v1/events?type=", "", nil, 400, "type"},
		{"status empty", "GET", base + "/v1/deliveries?status=", "", nil, 400, "status"},
		{"endpoint_id not an endpoint id", "GET", base + "/v1/deliveries?endpoint_id=x", "", nil, 400, "endpoint_id"},
		{"event_id with a control character", "GET", base + "/v1/deliveries?event_id=a%01", "", nil, 400, "event_id"},
		{"tenant cursor starting with a dot", "GET", base + "/v1/tenants?cursor=.x", "", nil, 400, "cursor"},
		{"endpoint cursor not an endpoint id", "GET", base + "/v1/endpoints?cursor=nope", "", nil, 400, "cursor"},
		{"history cursor of 19 digits", "GET", base + "/v1/events?cursor=1000000000000000000.x", "", nil, 400, "cursor"},
		{"history cursor without an id", "GET", base + "/v1/deliveries?cursor=5.", "", nil, 400, "cursor"},

		// Bodies as the document has them.
		{"tenant id empty", "POST", base + "/v1/tenants", `{"id":""}`, nil, 422, "id"},
		{"tenant id starting with a dot", "POST", base + "/v1/tenants", `{"id":".."}`, nil, 422, "id"},
		{"tenant id null", "POST", base + "/v1/tenants", `{"id":null}`, nil, 400, "id"},
		{"key name null", "POST", base + "/v1/tenants/acme/keys", `{"name":null}`, nil, 400, "name"},
		{"field name in another case", "POST", base + "/v1/tenants", `{"ID":"upper"}`, nil, 400, "ID"},
		{"header value null", "PATCH", epURL, `{"headers":{"X-A":null}}`, nil, 400, "headers"},
		{"enabled null", "PATCH", epURL, `{"enabled":null}`, nil, 400, "enabled"},
		{"timeout with a fraction", "PATCH", epURL, `{"timeout_ms":1.5}`, nil, 400, "timeout_ms"},
		{"overlap a string", "POST", epURL + "/rotate-secret", `{"overlap_seconds":"60"}`, nil, 400, "overlap_seconds"},
		{"secret with a line break", "POST", epURL + "/rotate-secret",
			`{"secret":"whsec_MDEyMzQ1Njc4OWFiY2RlZjAx\nMjM0NTY3ODlhYmNkZWYwMTIz"}`, nil, 422, "secret"},
		{"ed25519 key with a line break", "POST", epURL + "/rotate-secret",
			`{"secret":"whsk_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\nODlhYmNkZWYwMTIz"}`, nil, 422, "secret"},
		{"payload format null", "PATCH", epURL, `{"payload_format":null}`, nil, 400, "payload_format"},
		{"payload format with a NUL", "PATCH", epURL, `{"payload_format":"data\u0000"}`, nil, 422, "payload_format"},
		{"payload format huge", "PATCH", epURL, `{"payload_format":"` + strings.Repeat("d", 60000) + `"}`, nil, 422, "payload_format"},
		{"signature scheme not a string", "POST", epURL + "/rotate-secret", `{"signature_scheme":1}`, nil, 400, "signature_scheme"},
		{"signature scheme in another case", "POST", epURL + "/rotate-secret", `{"signature_scheme":"Ed25519"}`, nil, 422, "signature_scheme"},
		{"created_at offset of 24 hours", "POST", base + "/v1/events",
			`{"type":"a","data":1,"created_at":"2026-01-01T00:00:00+24:00"}`, nil, 400, "created_at"},
		{"recover since not a date-time", "POST", epURL + "/recover", `{"since":"yesterday"}`, nil, 400, "since"},
		{"event id null", "POST", base + "/v1/events", `{"id":null,"type":"a","data":1}`, nil, 400, "id"},
		{"URL host no DNS name has", "POST", base + "/v1/endpoints", `{"url":"https://a]b/","event_types":["*"]}`, nil, 422, "url"},

		// What the document allows is accepted.
		{"empty cursor", "GET", base + "/v1/tenants?cursor=", "", nil, 200, ""},
		{"lower-case t and z", "GET", base + "/v1/events?since=2026-01-01t00:00:00z", "", nil, 200, ""},
		{"leap second", "GET", base + "/v1/events?until=2016-12-31T18:59:60-05:00", "", nil, 200, ""},
		{"history cursor in year 33658", "GET", base + "/v1/events?cursor=999999999999999999.x", "", nil, 200, ""},
		{"history cursor in 1199 BC", "GET", base + "/v1/deliveries?cursor=-99999999999999999.x", "", nil, 200, ""},
		{"event_id of 255 four-byte characters", "GET", base + "/v1/deliveries?event_id=" + strings.Repeat("%F0%9F%98%80", 255), "", nil, 200, ""},
		{"empty X-Hookstream-Tenant", "GET", base + "/v1/endpoints", "", []string{"X-Hookstream-Tenant", ""}, 200, ""},
		{"whole number written 60.0", "POST", epURL + "/rotate-secret", `{"overlap_seconds":60.0}`, nil, 200, ""},
		{"whole number written 6e4", "PATCH", epURL, `{"timeout_ms":6e4}`, nil, 200, ""},
		{"description of 1024 two-byte characters", "PATCH", epURL, `{"description":"` + strings.Repeat("é", 1024) + `"}`, nil, 200, ""},
		{"recover since with a lower-case z", "POST", epURL + "/recover", `{"since":"2020-01-01T00:00:00z"}`, nil, 202, ""},
		{"NUL inside event data", "POST", base + "/v1/events", `{"type":"a","data":{"s":"\u0000","n":null}}`, nil, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, tt.url, tt.body, tt.headers...)
			if tt.status < 400 {
				if r.status != tt.status {
					t.Errorf("status = %d, want %d (body %s)", r.status, tt.status, r.body)
				}
				return
			}
			assertProblem(t, r, tt.status, tt.field)
		})
	}
}

// Revocation finds a key just created by the id in the creation's answer,
// as the document's RevokeKey link has it (TestOpenAPILinks checks the
// link). Its path parameter was named key, and a fuzzer that followed the
// name sent the key itself, which is not found.
func TestRevokeTheKeyJustCreated(t *testing.T) {
	base, _ := newServer(t)
	tenantWithKey(t, base, "acme")
	var k keyView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants/acme/keys", ""), http.StatusCreated, &k)
	var revoked keyView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants/"+k.Tenant+"/keys/"+k.ID+"/revoke", ""), http.StatusOK, &revoked)
	if revoked.ID != k.ID || revoked.RevokedAt == nil {
		t.Errorf("revoked = %+v, want key %s revoked", revoked, k.ID)
	}
	// The key itself is not its id.
	assertProblem(t, call(t, "POST", base+"/v1/tenants/acme/keys/"+k.Key+"/revoke", ""), http.StatusNotFound, "")
}
