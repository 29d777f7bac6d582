package main

import (
	"net/http"
	"testing"
	"time"
)

// A manual retry of a delivery whose next attempt waits in a retry tier
// would start a second chain of attempts with the same numbers: the
// receiver would see X-Webhook-Attempt 2 twice, and the history, keyed by
// attempt number, would keep one of the two. It is refused, and every
// request the receiver gets has its own attempt number and history row.
func TestManualRetryStartsNoSecondChain(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "3s,4s"})
	rcv := newReceiver(t, func(int, *http.Request) int { return http.StatusServiceUnavailable })
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)

	ds := s.waitStatus(ep.ID, 1, "retrying", 20*time.Second) // attempt 2 waits 3s
	code, raw := s.call("POST", "/v1/deliveries/"+ds[0].ID+"/retry", nil, nil)
	if code != http.StatusConflict {
		t.Errorf("manual retry of a delivery waiting in a tier = %d %s, want 409", code, raw)
	}

	ds = s.waitStatus(ep.ID, 1, "dead", 30*time.Second)
	time.Sleep(time.Second) // a request of a second chain would show up now
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.Header.Get("X-Webhook-Attempt")]++
	}
	for attempt, n := range seen {
		if n > 1 {
			t.Errorf("the receiver got attempt %s %d times", attempt, n)
		}
	}
	var full deliveryView
	s.call("GET", "/v1/deliveries/"+ds[0].ID, nil, &full)
	if got, sent := len(full.History), len(rcv.requests()); got != sent {
		t.Errorf("history holds %d attempts, the receiver got %d requests", got, sent)
	}
}
