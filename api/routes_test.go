package api_test

import "testing"

// A method the document does not list on a path it documents answers 405
// with Allow; a path it does not document answers 404.
func TestMethodNotAllowed(t *testing.T) {
	base, _ := newServer(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"TRACE", "/healthz", 405, "GET, HEAD"},
		{"POST", "/readyz", 405, "GET, HEAD"},
		{"PUT", "/v1/tenants", 405, "GET, HEAD, POST"},
		{"DELETE", "/v1/tenants/acme", 405, "GET, HEAD"},
		{"GET", "/v1/tenants/acme/keys/key_1/revoke", 405, "POST"},
		{"OPTIONS", "/v1/endpoints", 405, "GET, HEAD, POST"},
		{"PUT", "/v1/endpoints/ep_1", 405, "DELETE, GET, HEAD, PATCH"},
		{"GET", "/v1/deliveries/msg_1/retry", 405, "POST"},
		{"DELETE", "/v1/quarantine/0-1", 405, "GET, HEAD"},
		{"GET", "/v1/quarantine/0-1/redrive", 405, "POST"},
		{"GET", "/v1/nope", 404, ""},
		{"DELETE", "/v1/endpoints/ep_1/nope", 404, ""},
		{"GET", "/v1/endpoints/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := call(t, tt.method, base+tt.path, "")
			assertProblem(t, r, tt.status, "")
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}
