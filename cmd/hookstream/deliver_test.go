package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// An event published through the API and one published straight to the
// topic reach every subscribed endpoint exactly once, signed so that the
// Standard Webhooks verifier accepts them, and nobody else.
func TestPublishedEventsArriveSigned(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	invoices := s.endpoint(rcv.URL+"/invoices", "invoice.*")
	all := s.endpoint(rcv.URL+"/all", "*")
	users := s.endpoint(rcv.URL+"/users", "user.*")

	if !strings.HasPrefix(invoices.Secret, "whsec_") {
		t.Fatalf("create response secret = %q, want whsec_…", invoices.Secret)
	}
	code, raw := s.call("GET", "/v1/endpoints/"+invoices.ID, nil, nil)
	if code != http.StatusOK || strings.Contains(string(raw), invoices.Secret) || strings.Contains(string(raw), `"secret"`) {
		t.Fatalf("GET endpoint returned the secret or failed: %d %s", code, raw)
	}

	apiData := `{"invoice":"in_1","amount":4200,"note":"ünïcödé \u2028"}`
	apiID := s.publish("invoice.paid", apiData)

	// Straight to the topic, as kcat would, without an id.
	topicData := `{"invoice": "in_2"}`
	cl := s.kafka()
	rec := &kgo.Record{Topic: s.prefix + "events", Value: []byte(`{"tenant":"default","type":"invoice.created","data":` + topicData + `}`)}
	testenv.Must(t, cl.ProduceSync(context.Background(), rec).FirstErr(), "produce")

	// 2 events × (invoices, all) = 4 requests; none for users.
	reqs := rcv.waitRequests(t, 4, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // a fifth would show up now
	reqs = rcv.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver got %d requests, want 4: %+v", len(reqs), reqs)
	}
	secrets := map[string]string{"/invoices": invoices.Secret, "/all": all.Secret}
	seen := map[string]bool{}
	for _, r := range reqs {
		secret, ok := secrets[r.Path]
		if !ok {
			t.Fatalf("request to unsubscribed path %s", r.Path)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		testenv.Must(t, err, "verifier")
		if err := wh.Verify(r.Body, r.Header); err != nil {
			t.Errorf("%s: Standard Webhooks verification failed: %v", r.Path, err)
		}
		typ := r.Header.Get("X-Webhook-Event-Type")
		want := map[string]string{"invoice.paid": apiData, "invoice.created": topicData}[typ]
		if string(r.Body) != want {
			t.Errorf("%s %s: body %q, want the event's data %q byte for byte", r.Path, typ, r.Body, want)
		}
		if got := r.Header.Get("X-Webhook-Attempt"); got != "1" {
			t.Errorf("X-Webhook-Attempt = %q, want 1", got)
		}
		if r.Header.Get("X-Webhook-Timestamp") != r.Header.Get("webhook-timestamp") || r.Header.Get("webhook-timestamp") == "" {
			t.Errorf("timestamps differ or are missing: %v", r.Header)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		id := r.Header.Get("webhook-id")
		if !strings.HasPrefix(id, "msg_") || seen[id] {
			t.Errorf("webhook-id %q missing or repeated", id)
		}
		seen[id] = true
		if typ == "invoice.paid" && r.Header.Get("X-Webhook-Event-Id") != apiID {
			t.Errorf("event id header %q, want %q", r.Header.Get("X-Webhook-Event-Id"), apiID)
		}
	}

	// Every attempt is recorded, and listed per endpoint.
	ds := s.waitStatus(invoices.ID, 2, "succeeded", 20*time.Second)
	for _, d := range ds {
		if d.Attempts != 1 || d.LastStatusCode != 200 || !seen[d.ID] {
			t.Errorf("delivery %+v: want 1 attempt, status 200, id = a webhook-id the receiver saw", d)
		}
		var full deliveryView
		code, raw := s.call("GET", "/v1/deliveries/"+d.ID, nil, &full)
		if code != 200 || len(full.History) != 1 {
			t.Fatalf("GET delivery: %d %s", code, raw)
		}
		if h := full.History[0]; h.Outcome != "succeeded" || h.StatusCode != 200 || h.ResponseBody != `{"received":true}` {
			t.Errorf("attempt row %+v", h)
		}
	}
	if ds := s.deliveries(users.ID); len(ds) != 0 {
		t.Errorf("unsubscribed endpoint has deliveries: %+v", ds)
	}
}

// An event id published twice (API idempotency key, or the same id on the
// topic twice) is delivered once per endpoint.
func TestDuplicateEventDeliveredOnce(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	s.endpoint(rcv.URL, "order.*")

	first := s.publish("order.placed", `{"n":1}`, "Idempotency-Key", "order-1")
	second := s.publish("order.placed", `{"n":1}`, "Idempotency-Key", "order-1")
	if first != "order-1" || second != "order-1" {
		t.Fatalf("idempotent publishes returned ids %q and %q, want order-1 both times", first, second)
	}
	cl := s.kafka()
	for i := 0; i < 3; i++ { // same id three times, on different partitions too
		rec := &kgo.Record{Topic: s.prefix + "events", Key: []byte(strconv.Itoa(i)),
			Value: []byte(`{"id":"order-2","tenant":"default","type":"order.placed","data":{"n":2}}`)}
		testenv.Must(t, cl.ProduceSync(context.Background(), rec).FirstErr(), "produce")
	}
	// Three distinct events after the duplicates.
	for i := 3; i <= 5; i++ {
		s.publish("order.placed", `{"n":`+strconv.Itoa(i)+`}`)
	}
	// Wait until the dispatcher has judged all 8 records, then count.
	testenv.Eventually(t, 30*time.Second, func() bool {
		return metricValue(t, s, "hookstream_events_duplicate_total") == 3 &&
			metricValue(t, s, "hookstream_events_dispatched_total") == 5
	}, "dispatcher did not see 5 events and 3 duplicates")
	reqs := rcv.waitRequests(t, 5, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	count := map[string]int{}
	for _, r := range rcv.requests() {
		count[r.Header.Get("X-Webhook-Event-Id")]++
	}
	if len(reqs) != 5 || count["order-1"] != 1 || count["order-2"] != 1 {
		t.Fatalf("deliveries per event id: %v (want each once, 5 in all)", count)
	}
}

// Records that are not events go to the invalid topic with a reason; the
// good records around them, on the same partition, are delivered.
func TestPoisonRecordsGoToInvalidTopic(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_MAX_EVENT_BYTES": "4096"})
	rcv := newReceiver(t, nil)
	s.endpoint(rcv.URL, "good.*")

	poison := map[string]string{
		"random bytes":  "\x00\xff\xfe garbage \x01",
		"not json":      `{"tenant":"default","type":`,
		"no type":       `{"tenant":"default","data":{}}`,
		"no tenant":     `{"type":"good.one","data":{}}`,
		"wrong type":    `{"tenant":"default","type":42,"data":{}}`,
		"bad time":      `{"tenant":"default","type":"good.one","data":{},"created_at":"yesterday"}`,
		"null data":     `{"tenant":"default","type":"good.one","data":null}`,
		"oversized":     `{"tenant":"default","type":"good.one","data":"` + strings.Repeat("x", 5000) + `"}`,
		"empty":         "",
		"json array":    `[1,2,3]`,
		"bad tenant":    `{"tenant":"no spaces allowed","type":"good.one","data":{}}`,
		"bad type name": `{"tenant":"default","type":"a..b","data":{}}`,
		"forged type":   `{"tenant":"default","type":"hookstream.endpoint.disabled","data":{}}`,
	}
	cl := s.kafka()
	ctx := context.Background()
	key := []byte("same-partition")
	good := 0
	for reason, value := range poison {
		testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: s.prefix + "events", Key: key, Value: []byte(value),
			Headers: []kgo.RecordHeader{{Key: "case", Value: []byte(reason)}}}).FirstErr(), "produce poison")
		good++
		testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: s.prefix + "events", Key: key,
			Value: []byte(`{"tenant":"default","type":"good.one","data":{"n":` + strconv.Itoa(good) + `}}`)}).FirstErr(), "produce good")
	}
	rcv.waitRequests(t, good, 30*time.Second)

	// Read the invalid topic: every poison record, with its reason.
	inv := s.kafka(kgo.ConsumeTopics(s.prefix+"events.invalid"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(poison) && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := inv.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			hs := map[string]string{}
			for _, h := range r.Headers {
				hs[h.Key] = string(h.Value)
			}
			got[hs["case"]] = hs[schema.HeaderError]
			if hs[schema.HeaderSource] == "" {
				t.Errorf("%s: no source header", hs["case"])
			}
		})
	}
	for reason := range poison {
		if got[reason] == "" {
			t.Errorf("%s: not in the invalid topic with a reason (got %q)", reason, got[reason])
		}
	}
	t.Logf("reasons: %v", got)
	if n := metricValue(t, s, "hookstream_events_invalid_total"); n != float64(len(poison)) {
		t.Errorf("hookstream_events_invalid_total = %v, want %d", n, len(poison))
	}
	if n := len(rcv.requests()); n != good {
		t.Errorf("receiver got %d, want %d good events", n, good)
	}
}

// metricValue scrapes /metrics and returns the value of an unlabelled
// sample (0 when absent).
func metricValue(t *testing.T, s *system, name string) float64 {
	t.Helper()
	_, raw := s.get("/metrics")
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			testenv.Must(t, err, "parse metric")
			return f
		}
	}
	return 0
}
