package api

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/hookstream/hookstream/delivery"
)

// The request decoders must answer any body with a value or a 4xx
// problem, never a panic or a 5xx. Seeds live in testdata/fuzz.

func fuzzServer() *Server {
	s := &Server{Guard: delivery.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	s.init()
	return s
}

func fuzzDecode[T any](t *testing.T, s *Server, body []byte) (T, *Problem) {
	var v T
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
	return v, decode(w, r, s.MaxBodyBytes, &v)
}

func checkProblem(t *testing.T, p *Problem) {
	t.Helper()
	if p != nil && (p.Status < 400 || p.Status > 499 || p.Detail == "") {
		t.Fatalf("problem %+v, want a 4xx with a detail", p)
	}
}

func FuzzDecodeEndpoint(f *testing.F) {
	f.Add([]byte(`{"url":"https://example.com/h","event_types":["invoice.*"],"headers":{"X-A":"b"},"timeout_ms":5000}`))
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, p := fuzzDecode[endpointRequest](t, s, body)
		checkProblem(t, p)
		if p != nil {
			return
		}
		ne, p := s.validateEndpoint(req)
		checkProblem(t, p)
		if p == nil {
			if _, err := delivery.ParseSecret(ne.Secret); err != nil {
				t.Fatalf("valid endpoint with a bad secret: %v", err)
			}
			if strings.Contains(ne.DisplayURL, "@") {
				t.Fatalf("display URL %q keeps userinfo", ne.DisplayURL)
			}
		}
	})
}

func FuzzDecodeEndpointPatch(f *testing.F) {
	f.Add([]byte(`{"url":"http://127.0.0.1:9/x","enabled":false,"headers":{}}`))
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, p := fuzzDecode[endpointPatch](t, s, body)
		checkProblem(t, p)
		if p == nil {
			_, p = s.validatePatch(req)
			checkProblem(t, p)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"invoice.paid","data":{"a":1},"created_at":"2026-01-01T00:00:00Z"}`))
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		_, p := fuzzDecode[eventRequest](t, s, body)
		checkProblem(t, p)
	})
}

func FuzzDecodeRecover(f *testing.F) {
	f.Add([]byte(`{"since":"2026-01-01T00:00:00Z","until":"2026-01-02T00:00:00Z"}`))
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		_, p := fuzzDecode[recoverRequest](t, s, body)
		checkProblem(t, p)
		_, p = fuzzDecode[rotateRequest](t, s, body)
		checkProblem(t, p)
		_, p = fuzzDecode[tenantRequest](t, s, body)
		checkProblem(t, p)
	})
}
