package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/routing"
	"github.com/hookstream/hookstream/schema"
)

// oneRoute is a Router of one endpoint.
type oneRoute struct{ r *routing.Route }

func (o oneRoute) Lookup(context.Context, string) (*routing.Route, error) { return o.r, nil }
func (o oneRoute) Reload(context.Context, string) (*routing.Route, error) { return o.r, nil }

// panicOnce panics on its first Send and answers 200 after.
type panicOnce struct{ calls atomic.Int32 }

func (p *panicOnce) Send(context.Context, delivery.Request) delivery.Result {
	if p.calls.Add(1) == 1 {
		panic("a sender bug")
	}
	return delivery.Result{StatusCode: http.StatusOK, Latency: time.Millisecond}
}

// A panic while sending gives the attempt slot back: with one slot for the
// endpoint and one for the process, the next task is sent, not left
// waiting for a slot that was lost and then moved on.
func TestDelivererReleasesTheSlotOfAPanickedAttempt(t *testing.T) {
	ep := schema.Endpoint{ID: "ep_1", Tenant: "t", URL: "http://127.0.0.1:1/hook", State: schema.EndpointEnabled,
		Timeout: 200 * time.Millisecond, UpdatedAt: time.Now()}
	sender := &panicOnce{}
	d := &Deliverer{Topics: Topics{Prefix: "test.", Schedule: delivery.Schedule{time.Minute}},
		Routes: oneRoute{&routing.Route{Endpoint: ep}}, Sender: sender, Limits: NewLimits(1, 1),
		Metrics: NewMetrics(prometheus.NewRegistry()), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	record := func(id string) *kgo.Record {
		ev := schema.Event{ID: id, Tenant: "t", Type: "x.y", Data: []byte(`{}`), CreatedAt: time.Now()}
		return &kgo.Record{Topic: d.Topics.Deliveries(), Value: schema.EncodeTask(schema.NewTask(ev, ep.ID))}
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the first attempt did not panic")
			}
		}()
		_, _ = d.Process(context.Background(), record("e1"))
	}()

	out, err := d.Process(context.Background(), record("e2"))
	if err != nil {
		t.Fatalf("Process after the panic: %v", err)
	}
	if n := sender.calls.Load(); n != 2 {
		t.Errorf("the sender was called %d times, want 2: the task after the panic was not sent", n)
	}
	if len(out) != 1 || out[0].Topic != d.Topics.Attempts() {
		t.Fatalf("Process emitted %d records, want one attempt", len(out))
	}
	a, err := schema.DecodeAttempt(out[0].Value)
	if err != nil || a.Outcome != schema.OutcomeSucceeded {
		t.Errorf("attempt = %+v (%v), want succeeded", a, err)
	}
}
