package pipeline

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/schema"
)

// Tracing (W3C Trace Context, OpenTelemetry): an event's trace context
// rides in record headers, traceparent and tracestate, from the published
// record (or a CloudEvents ce_traceparent header) to every task of its
// fan-out, every retry of a task, every attempt's outcome, and the
// webhook itself.
//
// With a Tracer, each stage adds its span: the dispatcher one per event
// (consumer), the deliverer one per attempt (client: the endpoint's
// redacted URL, the status, the retry tier), the sink one per outcome
// stored. Without one (tracing off, the default), a trace context that
// came with an event is passed on as it is, checked, and nothing else is
// done: a record without one costs a scan of its headers.

// Trace context header names, on records as on HTTP requests.
const (
	HeaderTraceparent = schema.HeaderTraceparent
	HeaderTracestate  = schema.HeaderTracestate
	// ceTraceparent is the CloudEvents Kafka binding's form of the
	// distributed-tracing extension's attribute.
	ceTraceparent = "ce_traceparent"
	ceTracestate  = "ce_tracestate"
)

// TracerName names hookstream's tracer (its instrumentation scope).
const TracerName = "github.com/hookstream/hookstream"

var traceContext = propagation.TraceContext{}

// recordCarrier reads and writes a record's trace headers.
type recordCarrier struct{ r *kgo.Record }

func (c recordCarrier) Get(key string) string {
	alt := ""
	switch key {
	case HeaderTraceparent:
		alt = ceTraceparent
	case HeaderTracestate:
		alt = ceTracestate
	}
	var v string
	for _, h := range c.r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
		if alt != "" && h.Key == alt {
			v = string(h.Value)
		}
	}
	return v
}

func (c recordCarrier) Set(key, value string) {
	for i, h := range c.r.Headers {
		if h.Key == key {
			c.r.Headers[i].Value = []byte(value)
			return
		}
	}
	c.r.Headers = append(c.r.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

func (c recordCarrier) Keys() []string {
	return []string{HeaderTraceparent, HeaderTracestate}
}

// hasTrace reports whether a record carries a trace context, without
// parsing it.
func hasTrace(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == HeaderTraceparent || h.Key == ceTraceparent {
			return true
		}
	}
	return false
}

// passOn returns the trace headers to pass on as they came, when no
// tracer makes spans: traceparent and tracestate checked (a malformed
// traceparent passes nothing on, a malformed tracestate is dropped),
// without parsing them into a context. nil when there is none.
func passOn(traceparent, tracestate string) []kgo.RecordHeader {
	if !schema.ValidTraceparent(traceparent) {
		return nil
	}
	hs := []kgo.RecordHeader{{Key: HeaderTraceparent, Value: []byte(traceparent)}}
	if tracestate != "" && schema.ValidTracestate(tracestate) {
		hs = append(hs, kgo.RecordHeader{Key: HeaderTracestate, Value: []byte(tracestate)})
	}
	return hs
}

// passOnRecord is passOn of a record's own trace headers (traceparent,
// else ce_traceparent), sharing their bytes: the record's are never
// changed.
func passOnRecord(r *kgo.Record) []kgo.RecordHeader {
	var tp, ts, ceTP, ceTS []byte
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderTraceparent:
			tp = h.Value
		case HeaderTracestate:
			ts = h.Value
		case ceTraceparent:
			ceTP = h.Value
		case ceTracestate:
			ceTS = h.Value
		}
	}
	if tp == nil {
		tp, ts = ceTP, ceTS
	}
	if !schema.ValidTraceparent(string(tp)) {
		return nil
	}
	hs := make([]kgo.RecordHeader, 1, 2)
	hs[0] = kgo.RecordHeader{Key: HeaderTraceparent, Value: tp}
	if len(ts) > 0 && schema.ValidTracestate(string(ts)) {
		hs = append(hs, kgo.RecordHeader{Key: HeaderTracestate, Value: ts})
	}
	return hs
}

// extract returns ctx with the trace context of r, when it has a valid
// one.
func extract(ctx context.Context, r *kgo.Record) context.Context {
	if !hasTrace(r) {
		return ctx
	}
	return traceContext.Extract(ctx, recordCarrier{r})
}

// traceHeaders returns the trace headers of ctx's span context: nil when
// it has none.
func traceHeaders(ctx context.Context) []kgo.RecordHeader {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	r := &kgo.Record{}
	traceContext.Inject(ctx, recordCarrier{r})
	return r.Headers
}

// Traceparent returns the traceparent and tracestate of ctx's span
// context, as a request carries them: empty when it has none.
func Traceparent(ctx context.Context) (traceparent, tracestate string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", ""
	}
	r := &kgo.Record{}
	traceContext.Inject(ctx, recordCarrier{r})
	c := recordCarrier{r}
	return c.Get(HeaderTraceparent), c.Get(HeaderTracestate)
}

// withHeaders returns headers and the trace headers th, without another
// trace header.
func withHeaders(headers, th []kgo.RecordHeader) []kgo.RecordHeader {
	if len(th) == 0 {
		return headers
	}
	out := make([]kgo.RecordHeader, 0, len(headers)+len(th))
	for _, h := range headers {
		if h.Key != HeaderTraceparent && h.Key != HeaderTracestate {
			out = append(out, h)
		}
	}
	return append(out, th...)
}

// dispatchSpan starts the span of an event's fan-out (nil Tracer: none)
// and returns the trace headers its tasks carry.
func dispatchSpan(ctx context.Context, tr trace.Tracer, r *kgo.Record, ev *schema.Event, tasks int, bulk bool) []kgo.RecordHeader {
	switch {
	case hasTrace(r):
		if tr == nil {
			return passOnRecord(r)
		}
		ctx = extract(ctx, r)
	case ev.CloudEvent != nil && ev.CloudEvent.Extensions[HeaderTraceparent] != "":
		// A structured CloudEvent's distributed-tracing extension.
		tp, ts := ev.CloudEvent.Extensions[HeaderTraceparent], ev.CloudEvent.Extensions[HeaderTracestate]
		if tr == nil {
			return passOn(tp, ts)
		}
		ctx = traceContext.Extract(ctx, propagation.MapCarrier{HeaderTraceparent: tp, HeaderTracestate: ts})
	case tr == nil:
		return nil
	}
	if tr == nil {
		return traceHeaders(ctx)
	}
	ctx, span := tr.Start(ctx, "hookstream dispatch", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", r.Topic),
			attribute.Int("messaging.destination.partition.id", int(r.Partition)),
			attribute.Int64("messaging.kafka.offset", r.Offset),
			attribute.String("hookstream.tenant", ev.Tenant),
			attribute.String("hookstream.event.id", ev.ID),
			attribute.String("hookstream.event.type", ev.Type),
			attribute.Int("hookstream.tasks", tasks),
			attribute.Bool("hookstream.bulk", bulk),
		))
	defer span.End()
	return traceHeaders(ctx)
}

// attemptTrace is where an attempt's span leaves its trace headers for
// the attempt's outcome record.
type attemptTrace struct {
	task    []kgo.RecordHeader // the task's own, for its retries
	attempt []kgo.RecordHeader // the attempt's span, for its outcome
}

type attemptTraceKey struct{}

// startAttempt starts an attempt's client span, child of the task's trace
// context (nil Tracer: none), and returns ctx with it, and the trace
// headers the attempt's request carries.
func startAttempt(ctx context.Context, tr trace.Tracer, task schema.Task, redactedURL string) (_ context.Context, _ trace.Span, traceparent, tracestate string) {
	at, _ := ctx.Value(attemptTraceKey{}).(*attemptTrace)
	if at == nil {
		return ctx, nil, "", ""
	}
	if tr == nil {
		// Passed on as the task had it.
		return ctx, nil, headerOf(at.task, HeaderTraceparent), headerOf(at.task, HeaderTracestate)
	}
	ctx, span := tr.Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", "POST"),
			attribute.String("url.full", redactedURL),
			attribute.String("hookstream.tenant", task.Event.Tenant),
			attribute.String("hookstream.endpoint.id", task.EndpointID),
			attribute.String("hookstream.delivery.id", task.DeliveryID),
			attribute.String("hookstream.event.type", task.Event.Type),
			attribute.Int("hookstream.attempt", task.Attempt),
			attribute.Int("hookstream.retry.tier", task.Tier),
		))
	at.attempt = traceHeaders(ctx)
	traceparent, tracestate = Traceparent(ctx)
	return ctx, span, traceparent, tracestate
}

func headerOf(hs []kgo.RecordHeader, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// endAttempt records an attempt's result on its span and ends it.
func endAttempt(span trace.Span, res delivery.Result) {
	if span == nil {
		return
	}
	if res.StatusCode != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
	}
	switch {
	case res.ErrClass != "":
		span.SetAttributes(attribute.String("error.type", string(res.ErrClass)))
		span.SetStatus(codes.Error, string(res.ErrClass))
	case res.StatusCode < 200 || res.StatusCode > 299:
		span.SetAttributes(attribute.String("error.type", strconv.Itoa(res.StatusCode)))
		span.SetStatus(codes.Error, "HTTP "+strconv.Itoa(res.StatusCode))
	}
	span.End()
}

// sinkSpans starts a span per outcome record that carries a trace context
// (nil Tracer: none); end ends them with the batch's error.
func sinkSpans(ctx context.Context, tr trace.Tracer, recs []*kgo.Record, batch int) (end func(error)) {
	if tr == nil {
		return func(error) {}
	}
	var spans []trace.Span
	for _, r := range recs {
		if !hasTrace(r) {
			continue
		}
		_, span := tr.Start(extract(ctx, r), "hookstream sink", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", r.Topic),
				attribute.Int("hookstream.batch", batch),
			))
		spans = append(spans, span)
	}
	return func(err error) {
		for _, s := range spans {
			if err != nil {
				s.RecordError(err)
				s.SetStatus(codes.Error, "the batch was not stored")
			}
			s.End()
		}
	}
}
