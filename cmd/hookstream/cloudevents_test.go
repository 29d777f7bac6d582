package main

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

func kheaders(kv ...string) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// CloudEvents published to the events topic with a plain Kafka client, in
// either mode of the Kafka protocol binding, arrive as webhooks; the same
// ce_id and ce_source published again (in either mode) is delivered once;
// a record that breaks the binding goes to the invalid topic with its
// reason; and the attributes are kept with the event.
func TestCloudEventsOnTheEventsTopic(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "com.example.*")
	cl := s.kafka()
	ctx := context.Background()
	events := s.prefix + "events"

	binary := &kgo.Record{Topic: events, Key: []byte("in_1"), Value: []byte(`{"invoice":"in_1","amount":4200}`),
		Headers: kheaders("ce_specversion", "1.0", "ce_id", "A-1", "ce_source", "/billing", "ce_type", "com.example.invoice.paid",
			"ce_time", "2026-12-02T09:00:00Z", "ce_subject", "in_1", "ce_tenant", "default", "content-type", "application/json")}
	structured := &kgo.Record{Topic: events, Value: []byte(`{"specversion":"1.0","id":"B-1","source":"/billing","type":"com.example.invoice.voided",
		"tenant":"default","datacontenttype":"application/json","data":{"invoice":"in_2"}}`),
		Headers: kheaders("content-type", "application/cloudevents+json; charset=UTF-8")}
	// The binary event again, and again in structured mode: same source
	// and id, so the same event.
	again := &kgo.Record{Topic: events, Value: binary.Value, Headers: binary.Headers}
	againStructured := &kgo.Record{Topic: events, Value: []byte(`{"specversion":"1.0","id":"A-1","source":"/billing","type":"com.example.invoice.paid",
		"tenant":"default","data":{"invoice":"in_1","amount":4200}}`), Headers: kheaders("content-type", "application/cloudevents+json")}
	// Same id from another source: another event.
	otherSource := &kgo.Record{Topic: events, Value: []byte(`{"n":3}`),
		Headers: kheaders("ce_specversion", "1.0", "ce_id", "A-1", "ce_source", "/shipping", "ce_type", "com.example.parcel.sent", "ce_tenant", "default")}
	bad := map[string]*kgo.Record{
		"ce_specversion 0.3": {Value: []byte(`{}`), Headers: kheaders("ce_specversion", "0.3", "ce_id", "1", "ce_source", "s", "ce_type", "com.example.a", "ce_tenant", "default")},
		"no ce_tenant":       {Value: []byte(`{}`), Headers: kheaders("ce_specversion", "1.0", "ce_id", "2", "ce_source", "s", "ce_type", "com.example.a")},
		"XML data":           {Value: []byte(`<a/>`), Headers: kheaders("ce_specversion", "1.0", "ce_id", "3", "ce_source", "s", "ce_type", "com.example.a", "ce_tenant", "default", "content-type", "application/xml")},
		"Avro format":        {Value: []byte(`{}`), Headers: kheaders("content-type", "application/cloudevents+avro")},
	}
	for _, r := range []*kgo.Record{binary, structured, again, againStructured, otherSource} {
		testenv.Must(t, cl.ProduceSync(ctx, r).FirstErr(), "produce")
	}
	for name, r := range bad {
		r.Topic = events
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "case", Value: []byte(name)})
		testenv.Must(t, cl.ProduceSync(ctx, r).FirstErr(), "produce "+name)
	}

	ds := s.waitStatus(ep.ID, 3, "succeeded", 30*time.Second)
	reqs := rcv.requests()
	byType := map[string][]received{}
	for _, r := range reqs {
		byType[r.Header.Get("X-Webhook-Event-Type")] = append(byType[r.Header.Get("X-Webhook-Event-Type")], r)
	}
	paid := byType["com.example.invoice.paid"]
	if len(paid) != 1 || string(paid[0].Body) != `{"invoice":"in_1","amount":4200}` {
		t.Errorf("the binary event (published three times) arrived %d times: %+v", len(paid), paid)
	}
	if v := byType["com.example.invoice.voided"]; len(v) != 1 || string(v[0].Body) != `{"invoice":"in_2"}` {
		t.Errorf("the structured event: %+v", v)
	}
	if v := byType["com.example.parcel.sent"]; len(v) != 1 {
		t.Errorf("the same ce_id from another source arrived %d times, want once", len(v))
	}
	_ = ds

	// The event's id is derived from ce_source and ce_id; its time is
	// ce_time.
	id := schema.CloudEventID("/billing", "A-1")
	var ev struct {
		ID        string    `json:"id"`
		Type      string    `json:"type"`
		CreatedAt time.Time `json:"created_at"`
	}
	if code, raw := s.call("GET", "/v1/events/"+id, nil, &ev); code != http.StatusOK || ev.Type != "com.example.invoice.paid" ||
		!ev.CreatedAt.Equal(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("GET /v1/events/%s: %d %s", id, code, raw)
	}

	inv := readN(t, s, s.prefix+"events.invalid", len(bad))
	reasons := map[string]string{}
	for _, r := range inv {
		reasons[header(r, "case")] = header(r, schema.HeaderError)
	}
	want := map[string]string{
		"ce_specversion 0.3": "ce_specversion: unsupported version",
		"no ce_tenant":       "tenant: is required",
		"XML data":           "content-type: \"application/xml\" is not JSON",
		"Avro format":        "content-type: \"application/cloudevents+avro\"",
	}
	for name, w := range want {
		if !strings.HasPrefix(reasons[name], w) {
			t.Errorf("%s: invalid topic reason %q, want it to start with %q", name, reasons[name], w)
		}
	}
	if len(inv) != len(bad) {
		t.Errorf("invalid topic holds %d records, want %d", len(inv), len(bad))
	}
}

// A CloudEvent's attributes are stored with the event: a manual retry,
// made again from the events table, sends the same CloudEvents id and
// source as the first attempts did (a CloudEvents receiver dedupes on
// them).
func TestCloudEventAttributesSurviveAManualRetry(t *testing.T) {
	s := startSystem(t, nil)
	var fail atomic.Bool
	fail.Store(true)
	rcv := newReceiver(t, func(int, *http.Request) int {
		if fail.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	var ep createdEndpoint
	if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"com.example.*"},
		"payload_format": "cloudevents-binary"}, &ep); code != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", code, raw)
	}
	testenv.Must(t, s.kafka().ProduceSync(context.Background(), &kgo.Record{Topic: s.prefix + "events", Value: []byte(`{"n":1}`),
		Headers: kheaders("ce_specversion", "1.0", "ce_id", "A-1", "ce_source", "/billing", "ce_type", "com.example.invoice.paid",
			"ce_tenant", "default", "ce_subject", "in_1")}).FirstErr(), "produce")
	ds := s.waitStatus(ep.ID, 1, "dead", 60*time.Second)
	fail.Store(false)
	if code, raw := s.call("POST", "/v1/deliveries/"+ds[0].ID+"/retry", nil, nil); code >= 300 {
		t.Fatalf("retry: %d %s", code, raw)
	}
	s.waitStatus(ep.ID, 1, "succeeded", 30*time.Second)
	reqs := rcv.requests()
	for i, r := range reqs {
		if r.Header.Get("ce-id") != "A-1" || r.Header.Get("ce-source") != "/billing" || r.Header.Get("ce-subject") != "in_1" {
			t.Errorf("request %d of %d: ce-id %q, ce-source %q, ce-subject %q; want A-1, /billing, in_1 on every attempt",
				i+1, len(reqs), r.Header.Get("ce-id"), r.Header.Get("ce-source"), r.Header.Get("ce-subject"))
		}
	}
}
