package pipeline

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hookstream/hookstream/schema"
)

const testTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func traceRecord(headers ...string) *kgo.Record {
	r := &kgo.Record{Topic: "hookstream.events", Value: []byte(`{"tenant":"t","type":"a.b","data":{}}`)}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return r
}

func headerValue(hs []kgo.RecordHeader, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Without a tracer, a valid trace context goes on to the tasks as it
// came, from either header; a malformed one, and none, give nothing.
func TestDispatchSpanPassesThrough(t *testing.T) {
	ev := &schema.Event{ID: "e", Tenant: "t", Type: "a.b"}
	ce := &schema.Event{ID: "e", Tenant: "t", Type: "a.b", CloudEvent: &schema.CloudEvent{
		Extensions: map[string]string{"traceparent": testTraceparent, "tracestate": "v=1"}}}
	for _, tc := range []struct {
		name string
		r    *kgo.Record
		ev   *schema.Event
		want string
	}{
		{"traceparent", traceRecord("traceparent", testTraceparent, "tracestate", "v=1"), ev, testTraceparent},
		{"ce_traceparent", traceRecord("ce_traceparent", testTraceparent, "ce_tracestate", "v=1"), ev, testTraceparent},
		{"a structured CloudEvent's", traceRecord(), ce, testTraceparent},
		{"malformed", traceRecord("traceparent", "00-zz-\x00-01"), ev, ""},
		{"none", traceRecord("other", "x"), ev, ""},
	} {
		th := dispatchSpan(context.Background(), nil, tc.r, tc.ev, 1, false)
		if got := headerValue(th, HeaderTraceparent); got != tc.want {
			t.Errorf("%s: traceparent %q, want %q", tc.name, got, tc.want)
		}
		if tc.want != "" && headerValue(th, HeaderTracestate) != "v=1" {
			t.Errorf("%s: tracestate %q, want v=1", tc.name, headerValue(th, HeaderTracestate))
		}
	}
}

// BenchmarkDispatchTrace is what tracing costs the dispatcher per event:
// off (no tracer) without and with a traceparent on the record, and on
// (an SDK tracer that samples every span, exporting nowhere).
func BenchmarkDispatchTrace(b *testing.B) {
	ev := &schema.Event{ID: "e", Tenant: "t", Type: "a.b"}
	plain := traceRecord("content-type", "application/json")
	traced := traceRecord("content-type", "application/json", "traceparent", testTraceparent)
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	on := tp.Tracer(TracerName)
	ctx := context.Background()
	b.Run("off", func(b *testing.B) {
		for b.Loop() {
			_ = dispatchSpan(ctx, nil, plain, ev, 1, false)
		}
	})
	b.Run("off-traceparent", func(b *testing.B) {
		for b.Loop() {
			_ = dispatchSpan(ctx, nil, traced, ev, 1, false)
		}
	})
	b.Run("on-traceparent", func(b *testing.B) {
		for b.Loop() {
			_ = dispatchSpan(ctx, on, traced, ev, 1, false)
		}
	})
	// For scale: decoding the event itself, which the dispatcher does for
	// every record.
	value := []byte(`{"id":"in_1-paid","tenant":"default","type":"invoice.paid","data":{"invoice":"in_1","amount":4200},"created_at":"2026-12-02T09:00:00Z"}`)
	b.Run("decode-event", func(b *testing.B) {
		for b.Loop() {
			_, _ = schema.DecodeEvent(value)
		}
	})
}
