package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/internal/testenv"
)

// tracedSystem runs hookstream with its spans kept in memory.
func tracedSystem(t *testing.T) (*system, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s := startSystemWith(t, nil, func(c *Config) { c.tracerProvider = tp })
	return s, exp
}

// spansOf returns the spans of one trace, by name.
func spansOf(exp *tracetest.InMemoryExporter, id trace.TraceID) map[string][]tracetest.SpanStub {
	out := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == id {
			out[s.Name] = append(out[s.Name], s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// A traceparent on POST /v1/events is carried through dispatch, every
// attempt (the first failing, its retry succeeding) and the sink: one
// trace, each span the child of the one before, the webhooks carrying the
// attempts' traceparent, the endpoint's URL in the spans without its
// credentials or query.
func TestTraceFromPublishToSink(t *testing.T) {
	s, exp := tracedSystem(t)
	rcv := newReceiver(t, func(n int, _ *http.Request) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	u := strings.Replace(rcv.URL, "http://", "http://user:s3cret@", 1) + "/hook?token=t0ps3cret"
	ep := s.endpoint(u, "invoice.*")
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	s.publish("invoice.paid", `{"invoice":"in_1"}`, "traceparent", parent)
	s.waitStatus(ep.ID, 1, "succeeded", 30*time.Second)

	var spans map[string][]tracetest.SpanStub
	testenv.Eventually(t, 30*time.Second, func() bool {
		spans = spansOf(exp, tid)
		// More than one of dispatch's if a transaction was retried, more
		// attempts if one timed out on a loaded machine.
		return len(spans["POST /v1/events"]) == 1 && len(spans["hookstream dispatch"]) >= 1 &&
			len(spans["POST"]) >= 2 && len(spans["hookstream sink"]) >= len(spans["POST"])
	}, "want the API's span, dispatch's, 2 attempts' and the sink's in the trace")
	api, dispatch := spans["POST /v1/events"][0], spans["hookstream dispatch"][len(spans["hookstream dispatch"])-1]
	if api.Parent.SpanID().String() != "b7ad6b7169203331" || api.SpanKind != trace.SpanKindServer {
		t.Errorf("the API's span has parent %s (kind %v), want the request's", api.Parent.SpanID(), api.SpanKind)
	}
	if dispatch.Parent.SpanID() != api.SpanContext.SpanID() || dispatch.SpanKind != trace.SpanKindConsumer {
		// every dispatch span of the trace is the API span's child
		t.Errorf("dispatch's parent %s, want the API's span %s", dispatch.Parent.SpanID(), api.SpanContext.SpanID())
	}
	attempts := spans["POST"]
	sent := map[string]bool{}
	for _, r := range rcv.requests() {
		sent[r.Header.Get("Traceparent")] = true
	}
	tiers := map[int64]int64{}
	dispatched := map[trace.SpanID]bool{}
	for _, d := range spans["hookstream dispatch"] {
		dispatched[d.SpanContext.SpanID()] = true
	}
	for _, a := range attempts {
		if !dispatched[a.Parent.SpanID()] || a.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt span's parent %s, want dispatch's %s", a.Parent.SpanID(), dispatch.SpanContext.SpanID())
		}
		if code := attr(a, "http.response.status_code").AsInt64(); code != 0 {
			tiers[attr(a, "hookstream.retry.tier").AsInt64()] = code
		}
		if url := attr(a, "url.full").AsString(); strings.Contains(url, "s3cret") || strings.Contains(url, "t0ps3cret") || !strings.Contains(url, "/hook") {
			t.Errorf("url.full = %q: want the endpoint's URL without credentials or query", url)
		}
		want := "00-" + tid.String() + "-" + a.SpanContext.SpanID().String() + "-01"
		if !sent[want] {
			t.Errorf("no webhook carried traceparent %s (sent: %v)", want, sent)
		}
	}
	if tiers[0] != 500 || tiers[int64(len(attempts)-1)] != 200 {
		t.Errorf("attempts by retry tier: %v, want tier 0 answered 500 and the last 200", tiers)
	}
	for _, sk := range spans["hookstream sink"] {
		ok := false
		for _, a := range attempts {
			ok = ok || sk.Parent.SpanID() == a.SpanContext.SpanID()
		}
		if !ok {
			t.Errorf("a sink span's parent %s is no attempt's", sk.Parent.SpanID())
		}
	}
}

// A traceparent header on a record published straight to Kafka, a
// CloudEvents ce_traceparent (binary mode) and a traceparent attribute
// (structured mode) start the trace the same way; a malformed
// one is ignored (a trace of hookstream's own), never passed on.
func TestTraceFromARecord(t *testing.T) {
	s, exp := tracedSystem(t)
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "order.*")
	cl := s.kafka()
	events := s.prefix + "events"
	rec := func(typ, header, value string) *kgo.Record {
		return &kgo.Record{Topic: events, Value: []byte(`{"tenant":"default","type":"` + typ + `","data":{}}`),
			Headers: []kgo.RecordHeader{{Key: header, Value: []byte(value)}}}
	}
	testenv.Must(t, cl.ProduceSync(context.Background(),
		rec("order.a", "traceparent", "00-11111111111111111111111111111111-2222222222222222-01"),
		rec("order.b", "ce_traceparent", "00-33333333333333333333333333333333-4444444444444444-01"),
		rec("order.c", "traceparent", "00-zz-\x00\xff-01"),
		&kgo.Record{Topic: events, Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}},
			Value: []byte(`{"specversion":"1.0","id":"ce-1","source":"/orders","type":"order.d","tenant":"default",` +
				`"traceparent":"00-55555555555555555555555555555555-6666666666666666-01","data":{}}`)},
	).FirstErr(), "produce")
	s.waitStatus(ep.ID, 4, "succeeded", 30*time.Second)
	for _, id := range []string{"11111111111111111111111111111111", "33333333333333333333333333333333", "55555555555555555555555555555555"} {
		tid, _ := trace.TraceIDFromHex(id)
		testenv.Eventually(t, 30*time.Second, func() bool {
			sp := spansOf(exp, tid)
			return len(sp["hookstream dispatch"]) >= 1 && len(sp["POST"]) >= 1 && len(sp["hookstream sink"]) >= 1
		}, "trace %s: want dispatch, attempt and sink spans", id)
	}
	for _, r := range rcv.requests() {
		tp := r.Header.Get("Traceparent")
		if len(tp) != 55 || strings.ContainsAny(tp, "z\x00") {
			t.Errorf("a webhook carried traceparent %q", tp)
		}
	}
}

// With tracing off (no OTEL_* variables), a valid traceparent is passed
// on as it came, from POST /v1/events to the webhook; no span is made.
func TestTraceparentPassesThroughWhenTracingIsOff(t *testing.T) {
	s := startSystem(t, nil)
	if s.cfg.tracing.enabled() {
		t.Fatal("tracing is on without OTEL_* variables")
	}
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "invoice.*")
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	s.publish("invoice.paid", `{}`, "traceparent", parent, "tracestate", "vendor=x")
	s.publish("invoice.voided", `{}`, "traceparent", "00-not-a-traceparent-01")
	s.waitStatus(ep.ID, 2, "succeeded", 30*time.Second)
	for _, r := range rcv.requests() {
		got := r.Header.Get("Traceparent")
		switch r.Header.Get("X-Webhook-Event-Type") {
		case "invoice.paid":
			if got != parent || r.Header.Get("Tracestate") != "vendor=x" {
				t.Errorf("traceparent %q tracestate %q, want %q and vendor=x", got, r.Header.Get("Tracestate"), parent)
			}
		default:
			if got != "" {
				t.Errorf("a malformed traceparent went on as %q", got)
			}
		}
	}
}
