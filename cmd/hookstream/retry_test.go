package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// The test schedule is 1s,2s with ±20 % jitter: a retry in tier i comes at
// least 0.8 × its delay after the attempt before it.
const jitter = 0.2

// A flaky endpoint (fails twice, then answers 2xx) gets three requests with
// one webhook-id, attempts 1, 2, 3, each spaced by at least its tier's
// delay, and the delivery ends succeeded with its history.
func TestFlakyEndpointRetriesWithTheSameID(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, func(n int, _ *http.Request) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)

	reqs := rcv.waitRequests(t, 3, 30*time.Second)
	id := reqs[0].Header.Get("webhook-id")
	for i, r := range reqs {
		if got := r.Header.Get("webhook-id"); got != id {
			t.Errorf("request %d webhook-id %q, want %q", i+1, got, id)
		}
		if got := r.Header.Get("X-Webhook-Attempt"); got != strconv.Itoa(i+1) {
			t.Errorf("request %d X-Webhook-Attempt %q", i+1, got)
		}
	}
	for i, delay := range []time.Duration{time.Second, 2 * time.Second} {
		min := time.Duration(float64(delay) * (1 - jitter))
		if gap := reqs[i+1].At.Sub(reqs[i].At); gap < min {
			t.Errorf("attempt %d came %v after attempt %d, before its tier's %v (−20 %%)", i+2, gap, i+1, delay)
		}
	}
	ds := s.waitStatus(ep.ID, 1, "succeeded", 20*time.Second)
	var full deliveryView
	s.call("GET", "/v1/deliveries/"+ds[0].ID, nil, &full)
	if full.Attempts != 3 || len(full.History) != 3 || full.ID != id {
		t.Fatalf("delivery %+v, want 3 attempts recorded under id %s", full, id)
	}
	for i, want := range []string{"retrying", "retrying", "succeeded"} {
		if h := full.History[i]; h.Outcome != want || h.Attempt != i+1 {
			t.Errorf("history[%d] = %+v, want attempt %d %s", i, h, i+1, want)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want exactly 3", n)
	}
}

// An endpoint that always fails walks every tier, then the delivery is dead:
// recorded as such and present in the dead topic.
func TestAlwaysFailingDeliveryEndsDead(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, func(int, *http.Request) int { return http.StatusServiceUnavailable })
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)

	ds := s.waitStatus(ep.ID, 1, "dead", 30*time.Second)
	if ds[0].Attempts != 3 || ds[0].LastStatusCode != 503 {
		t.Errorf("dead delivery %+v, want 3 attempts (1 + 2 tiers), last status 503", ds[0])
	}
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
	rec := readOne(t, s, s.prefix+"dead")
	task, err := schema.DecodeTask(rec.Value)
	testenv.Must(t, err, "decode dead task")
	if task.DeliveryID != ds[0].ID || task.Attempt != 3 {
		t.Errorf("dead topic holds %+v, want delivery %s at attempt 3", task, ds[0].ID)
	}
	if reason := header(rec, schema.HeaderError); !strings.Contains(reason, "503") {
		t.Errorf("dead record reason %q does not name the last status", reason)
	}
}

// The seed's state transition: an endpoint at threshold − 1 failures fails
// once more and is disabled (and the tenant hears of it); its next events
// are parked, not sent; enabling it replays them, oldest first, with their
// original ids, and they succeed.
func TestEndpointDisabledAtThresholdParksAndReplays(t *testing.T) {
	s := startSystem(t, map[string]string{
		"HOOKSTREAM_DISABLE_AFTER_FAILURES": "3",
		"HOOKSTREAM_DISABLE_MIN_FAILING":    "0s",
		"HOOKSTREAM_RETRY_SCHEDULE":         "1h", // failed deliveries wait out of the way
	})
	var failing atomic.Bool
	failing.Store(true)
	rcv := newReceiver(t, func(int, *http.Request) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep := s.endpoint(rcv.URL+"/hook", "invoice.*")
	s.endpoint(rcv.URL+"/ops", "hookstream.endpoint.*")

	for i := 1; i <= 2; i++ { // threshold − 1 failures
		s.publish("invoice.paid", `{"n":`+strconv.Itoa(i)+`}`)
	}
	s.waitStatus(ep.ID, 2, "retrying", 20*time.Second)
	if st := s.endpointState(ep.ID); st.State != "enabled" {
		t.Fatalf("after 2 failures the endpoint is %q, want enabled", st.State)
	}
	s.publish("invoice.paid", `{"n":3}`) // the one failure too many
	testenv.Eventually(t, 20*time.Second, func() bool { return s.endpointState(ep.ID).State == "disabled" },
		"endpoint not disabled after 3 consecutive failures")
	if st := s.endpointState(ep.ID); !strings.Contains(st.DisabledReason, "3 consecutive failed attempts") {
		t.Errorf("disabled reason %q", st.DisabledReason)
	}

	// The tenant hears of it like of any other event.
	opsReq := waitPath(t, rcv, "/ops", 1, 20*time.Second)[0]
	var note struct {
		EndpointID string `json:"endpoint_id"`
		Reason     string `json:"reason"`
	}
	testenv.Must(t, json.Unmarshal(opsReq.Body, &note), "decode operational event")
	if opsReq.Header.Get("X-Webhook-Event-Type") != "hookstream.endpoint.disabled" || note.EndpointID != ep.ID {
		t.Errorf("operational event %s %s, want hookstream.endpoint.disabled for %s",
			opsReq.Header.Get("X-Webhook-Event-Type"), opsReq.Body, ep.ID)
	}

	// Parked, not sent.
	before := len(pathRequests(rcv, "/hook"))
	s.publish("invoice.paid", `{"n":4}`)
	s.publish("invoice.paid", `{"n":5}`)
	var parked []deliveryView
	var statuses []string
	testenv.Eventually(t, 20*time.Second, func() bool {
		parked, statuses = parked[:0], statuses[:0]
		for _, d := range s.deliveries(ep.ID) {
			statuses = append(statuses, d.Status)
			if d.Status == "parked" {
				parked = append(parked, d)
			}
		}
		return len(parked) == 2
	}, "want 2 parked deliveries of 5, have the statuses %v", func() any { return statuses })
	if n := len(pathRequests(rcv, "/hook")); n != before {
		t.Fatalf("a disabled endpoint received %d requests", n-before)
	}

	// Enable: the parked deliveries are replayed with their ids.
	failing.Store(false)
	var resp struct {
		State    string `json:"state"`
		Replayed int    `json:"replayed"`
	}
	code, raw := s.call("POST", "/v1/endpoints/"+ep.ID+"/enable", nil, &resp)
	if code != http.StatusOK || resp.State != "enabled" || resp.Replayed != 2 {
		t.Fatalf("enable: %d %s", code, raw)
	}
	got := waitPath(t, rcv, "/hook", before+2, 20*time.Second)[before:]
	want := map[string]bool{parked[0].ID: true, parked[1].ID: true}
	for _, r := range got {
		if !want[r.Header.Get("webhook-id")] {
			t.Errorf("replayed request has webhook-id %s, want one of the parked ids %v", r.Header.Get("webhook-id"), want)
		}
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		n := 0
		for _, d := range s.deliveries(ep.ID) {
			if want[d.ID] && d.Status == "succeeded" {
				n++
			}
		}
		return n == 2
	}, "replayed deliveries did not succeed")
}

// A 410 Gone disables the endpoint at once and parks the delivery.
func TestGoneDisablesAtOnce(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, func(int, *http.Request) int { return http.StatusGone })
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)
	s.waitStatus(ep.ID, 1, "parked", 20*time.Second)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.endpointState(ep.ID).State == "disabled" },
		"endpoint not disabled after 410")
	if st := s.endpointState(ep.ID); !strings.Contains(st.DisabledReason, "410") {
		t.Errorf("disabled reason %q does not mention 410", st.DisabledReason)
	}
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("receiver got %d requests after a 410, want 1", n)
	}
}

// 429 with Retry-After is not retried before the receiver asked: the next
// tier long enough is chosen (here the second, 5s, for a 3s Retry-After).
func TestRetryAfterIsHonoured(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "1s,5s"})
	rcv := newReceiver(t, func(n int, _ *http.Request) int {
		if n == 0 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	rcv.Config.Handler = retryAfter(rcv.Config.Handler, "3")
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)
	reqs := rcv.waitRequests(t, 2, 30*time.Second)
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 3*time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 3", gap)
	}
	s.waitStatus(ep.ID, 1, "succeeded", 20*time.Second)
}

func retryAfter(h http.Handler, v string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", v)
		h.ServeHTTP(w, r)
	})
}

type endpointView struct {
	State          string     `json:"state"`
	DisabledReason string     `json:"disabled_reason"`
	DisabledCause  string     `json:"disabled_cause"`
	Paused         bool       `json:"paused"`
	PausedUntil    *time.Time `json:"paused_until"`
	NextProbeAt    *time.Time `json:"next_probe_at"`
	Probes         int        `json:"probes"`
	Replayed       int        `json:"replayed"`
}

func (s *system) endpointState(id string) endpointView {
	s.t.Helper()
	var v endpointView
	if code, raw := s.call("GET", "/v1/endpoints/"+id, nil, &v); code != http.StatusOK {
		s.t.Fatalf("get endpoint: %d %s", code, raw)
	}
	return v
}

func pathRequests(rc *receiver, path string) []received {
	var out []received
	for _, r := range rc.requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func waitPath(t *testing.T, rc *receiver, path string, n int, timeout time.Duration) []received {
	t.Helper()
	testenv.Eventually(t, timeout, func() bool { return len(pathRequests(rc, path)) >= n },
		"%s got %d requests, want %d", path, len(pathRequests(rc, path)), n)
	return pathRequests(rc, path)
}

// readOne reads the first committed record of a topic.
func readOne(t *testing.T, s *system, topic string) *kgo.Record {
	t.Helper()
	cl := s.kafka(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(ctx, 1)
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
		if ctx.Err() != nil {
			t.Fatalf("no record in %s", topic)
		}
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
