package main

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

func verifies(t *testing.T, secret string, r received) bool {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	testenv.Must(t, err, "NewWebhook")
	return wh.Verify(r.Body, r.Header) == nil
}

func TestSecretRotationSignsWithBothDuringTheOverlap(t *testing.T) {
	s := startSystem(t, nil)
	rc := newReceiver(t, nil)
	ep := s.endpoint(rc.URL+"/hook", "invoice.*")
	var rot struct {
		Secret              string    `json:"secret"`
		PreviousSecretUntil time.Time `json:"previous_secret_until"`
	}
	if code, raw := s.call("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", `{"overlap_seconds":10}`, &rot); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, raw)
	}
	if rot.Secret == "" || rot.Secret == ep.Secret {
		t.Fatalf("rotation gave secret %q", rot.Secret)
	}

	s.publish("invoice.paid", `{"n":1}`)
	during := rc.waitRequests(t, 1, 30*time.Second)[0]
	if !during.At.Before(rot.PreviousSecretUntil) {
		t.Fatalf("the first delivery came after the 10 s overlap had ended: it cannot show the overlap")
	}
	if !verifies(t, ep.Secret, during) || !verifies(t, rot.Secret, during) {
		t.Errorf("during the overlap: old verifies %v, new verifies %v; want both (signatures %q)",
			verifies(t, ep.Secret, during), verifies(t, rot.Secret, during), during.Header.Get("webhook-signature"))
	}
	if n := len(strings.Fields(during.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("during the overlap %d signatures, want 2", n)
	}

	time.Sleep(time.Until(rot.PreviousSecretUntil) + 200*time.Millisecond)
	s.publish("invoice.paid", `{"n":2}`)
	after := rc.waitRequests(t, 2, 30*time.Second)[1]
	if verifies(t, ep.Secret, after) || !verifies(t, rot.Secret, after) {
		t.Errorf("after the overlap: old verifies %v, new verifies %v; want only the new",
			verifies(t, ep.Secret, after), verifies(t, rot.Secret, after))
	}
}

func TestManualRetryKeepsTheWebhookID(t *testing.T) {
	s := startSystem(t, nil)
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	ep := s.endpoint(rc.URL+"/hook", "*")
	s.publish("order.created", `{"order":1}`)
	d := s.waitStatus(ep.ID, 1, "dead", 60*time.Second)[0]
	if d.Attempts != 3 {
		t.Fatalf("dead after %d attempts, want 3 (schedule 1s,2s)", d.Attempts)
	}

	var accepted deliveryView
	if code, raw := s.call("POST", "/v1/deliveries/"+d.ID+"/retry", nil, &accepted); code != http.StatusAccepted {
		t.Fatalf("retry: %d %s", code, raw)
	}
	reqs := rc.waitRequests(t, 4, 30*time.Second)
	last := reqs[3]
	if got := last.Header.Get("webhook-id"); got != d.ID || got != reqs[0].Header.Get("webhook-id") {
		t.Errorf("manual retry webhook-id = %q, want %q", got, d.ID)
	}
	if got := last.Header.Get("X-Webhook-Attempt"); got != "4" {
		t.Errorf("manual retry X-Webhook-Attempt = %q, want 4", got)
	}
	if !verifies(t, ep.Secret, last) {
		t.Error("manual retry is not signed with the endpoint's secret")
	}
	s.waitStatus(ep.ID, 1, "succeeded", 30*time.Second)
}

func TestRecoveryResendsFailedDeliveries(t *testing.T) {
	s := startSystem(t, nil)
	var failing atomic.Bool
	failing.Store(true)
	rc := newReceiver(t, func(int, *http.Request) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	ep := s.endpoint(rc.URL+"/hook", "*")
	since := time.Now().Add(-time.Minute)
	for i := range 3 {
		s.publish("order.created", `{"order":`+string(rune('1'+i))+`}`)
	}
	dead := s.waitStatus(ep.ID, 3, "dead", 60*time.Second)
	failing.Store(false)
	before := len(rc.requests())

	var job struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Total  int    `json:"total"`
		Done   int    `json:"done"`
		Failed int    `json:"failed"`
	}
	code, raw := s.call("POST", "/v1/endpoints/"+ep.ID+"/recover", map[string]any{"since": since.Format(time.RFC3339Nano)}, &job)
	if code != http.StatusAccepted || job.Total != 3 {
		t.Fatalf("recover: %d %s, want 202 with total 3", code, raw)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		s.call("GET", "/v1/jobs/"+job.ID, nil, &job)
		return job.Status != "running"
	}, "job still running: %+v", &job)
	if job.Status != "done" || job.Done != 3 || job.Failed != 0 {
		t.Errorf("job = %+v, want done with 3 re-sent", job)
	}
	s.waitStatus(ep.ID, 3, "succeeded", 30*time.Second)
	got := map[string]bool{}
	for _, r := range rc.requests()[before:] {
		got[r.Header.Get("webhook-id")] = true
	}
	for _, d := range dead {
		if !got[d.ID] {
			t.Errorf("receiver did not get delivery %s again", d.ID)
		}
	}
	// A recovery can be a day of deliveries: it takes the bulk lane.
	inBulk := map[string]bool{}
	for _, r := range readN(t, s, s.prefix+"deliveries.bulk", len(dead)) {
		task, err := schema.DecodeTask(r.Value)
		testenv.Must(t, err, "decode a bulk-lane task")
		inBulk[task.DeliveryID] = true
	}
	for _, d := range dead {
		if !inBulk[d.ID] {
			t.Errorf("the recovery of delivery %s is not in the bulk lane", d.ID)
		}
	}
}

func TestLoadConfigManagementAPI(t *testing.T) {
	c, err := loadTestConfig(t, nil)
	testenv.Must(t, err, "config")
	if c.Retention != 720*time.Hour || c.RetentionInterval != 10*time.Minute || c.KeyCacheTTL != 5*time.Second {
		t.Errorf("defaults: retention %v every %v, key cache %v", c.Retention, c.RetentionInterval, c.KeyCacheTTL)
	}
	if c.PartitionInterval != 24*time.Hour || c.PartitionsAhead != 3 {
		t.Errorf("defaults: partitions of %v, %d ahead; want daily, three days ahead", c.PartitionInterval, c.PartitionsAhead)
	}
	c, err = loadTestConfig(t, map[string]string{"HOOKSTREAM_RETENTION": "0s"})
	if err != nil || c.Retention != 0 {
		t.Errorf("retention 0 (keep everything): %v, %v", c.Retention, err)
	}
	for key, value := range map[string]string{
		"HOOKSTREAM_RETENTION":          "-1h",
		"HOOKSTREAM_RETENTION_INTERVAL": "0s",
		"HOOKSTREAM_KEY_CACHE_TTL":      "2m",
		"HOOKSTREAM_PARTITION_INTERVAL": "90m",
		"HOOKSTREAM_PARTITIONS_AHEAD":   "0",
	} {
		if _, err := loadTestConfig(t, map[string]string{key: value}); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: error %v, want one naming it", key, value, err)
		}
	}
}

func TestTestEventReachesOneEndpoint(t *testing.T) {
	s := startSystem(t, nil)
	rcA, rcB := newReceiver(t, nil), newReceiver(t, nil)
	a, b := s.endpoint(rcA.URL+"/hook", "invoice.*"), s.endpoint(rcB.URL+"/hook", "invoice.*")

	var sent struct {
		EventID    string `json:"event_id"`
		DeliveryID string `json:"delivery_id"`
		EndpointID string `json:"endpoint_id"`
		Type       string `json:"type"`
	}
	if code, raw := s.call("POST", "/v1/endpoints/"+a.ID+"/test", nil, &sent); code != http.StatusAccepted {
		t.Fatalf("test event: %d %s", code, raw)
	}
	if sent.Type != "invoice.test" || sent.EndpointID != a.ID || sent.EventID == "" {
		t.Errorf("test event answered %+v; want type invoice.test for %s", sent, a.ID)
	}
	got := rcA.waitRequests(t, 1, 30*time.Second)[0]
	if got.Header.Get("webhook-id") != sent.DeliveryID || string(got.Body) != `{"test":true}` || !verifies(t, a.Secret, got) {
		t.Errorf("A received webhook-id %q body %s (verifies %v); want %q, {\"test\":true}, signed",
			got.Header.Get("webhook-id"), got.Body, verifies(t, a.Secret, got), sent.DeliveryID)
	}

	// An event published after it, to the same partition (keyed by tenant),
	// reaches both: once B has it recorded, the test event was dispatched,
	// and B must have had nothing else.
	s.publish("invoice.paid", `{"n":1}`)
	s.waitStatus(b.ID, 1, "succeeded", 30*time.Second)
	s.waitStatus(a.ID, 2, "succeeded", 30*time.Second)
	if reqs := rcB.requests(); len(reqs) != 1 || string(reqs[0].Body) != `{"n":1}` {
		t.Errorf("B received %d requests (first %q); want only the published event", len(reqs), reqs[0].Body)
	}

	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/v1/endpoints/" + a.ID + "/test", `{"type":"order.created"}`, http.StatusUnprocessableEntity}, // not subscribed
		{"/v1/endpoints/" + a.ID + "/test", `{"type":"hookstream.endpoint.disabled"}`, http.StatusUnprocessableEntity},
		{"/v1/endpoints/" + a.ID + "/test", `{"data":null}`, http.StatusUnprocessableEntity},
		{"/v1/endpoints/ep_nope/test", ``, http.StatusNotFound},
	} {
		if code, raw := s.call("POST", c.path, c.body, nil); code != c.want {
			t.Errorf("POST %s %s: %d %s, want %d", c.path, c.body, code, raw, c.want)
		}
	}
}
