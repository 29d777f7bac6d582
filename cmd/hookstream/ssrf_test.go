package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

// An endpoint whose host name resolves into a network the SSRF guard
// refuses fails with a generic reason: its deliveries, as the tenant sees
// them, never name the address the name resolved to.
func TestRefusedDestinationIsNotDescribedToTenants(t *testing.T) {
	s := startSystem(t, map[string]string{
		"HOOKSTREAM_ALLOWED_TARGET_CIDRS": "", // loopback refused, as in production
		"HOOKSTREAM_RETRY_SCHEDULE":       "1h",
	})
	rcv := newReceiver(t, nil)
	port := rcv.URL[strings.LastIndexByte(rcv.URL, ':'):]
	ep := s.endpoint("https://localhost"+port+"/hook", "invoice.*") // a name: not resolved at creation
	s.publish("invoice.paid", `{"n":1}`)

	ds := s.waitStatus(ep.ID, 1, "retrying", 20*time.Second)
	var raw []byte
	testenv.Eventually(t, 10*time.Second, func() bool {
		var code int
		code, raw = s.call("GET", "/v1/deliveries/"+ds[0].ID, nil, nil)
		return code == http.StatusOK && strings.Contains(string(raw), `"attempt_history":[{`)
	}, "no attempt recorded")
	for _, leak := range []string{"127.0.0.1", "::1", "loopback"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("the delivery shows %q to the tenant: %s", leak, raw)
		}
	}
	if !strings.Contains(string(raw), "destination not allowed") {
		t.Errorf("the delivery does not say the destination is not allowed: %s", raw)
	}
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("the refused destination got %d requests", n)
	}
}
