package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/schema"
)

// AttemptStore records attempt outcomes and endpoint health; see
// postgres.DB.WriteAttempts.
type AttemptStore interface {
	WriteAttempts(ctx context.Context, batch []schema.Attempt, rule schema.DisableRule,
		onChange func(context.Context, []schema.EndpointChange) error) error
}

// Sink writes attempt outcomes to the store in batches, keeps endpoint
// failure counts there, and announces every endpoint it disables with a
// hookstream.endpoint.disabled event to the endpoint's tenant.
type Sink struct {
	DB   AttemptStore
	Rule schema.DisableRule
	// Producer publishes the operational events to Topics.Events(),
	// signed with Origin; nil publishes none.
	Producer *kgo.Client
	Topics   Topics
	Origin   Origin
	// Tracer, when set, adds a span per stored outcome that carries a
	// trace context.
	Tracer  trace.Tracer
	Metrics *Metrics
	Log     *slog.Logger
}

// Store is the sink's consumer.SinkFunc.
func (s *Sink) Store(ctx context.Context, recs []*kgo.Record) error {
	batch := make([]schema.Attempt, 0, len(recs))
	for _, r := range recs {
		a, err := schema.DecodeAttempt(r.Value)
		if err != nil {
			// Only hookstream writes this topic; a record it cannot read
			// comes from a newer version or a stray producer: quarantined.
			return consumer.Poison(fmt.Errorf("sink: %w", err))
		}
		batch = append(batch, a.Clean())
	}
	start := time.Now()
	end := sinkSpans(ctx, s.Tracer, recs, len(batch))
	err := s.DB.WriteAttempts(ctx, batch, s.Rule, s.announce)
	end(err)
	if err != nil {
		if errors.Is(err, schema.ErrInvalidData) {
			return consumer.Poison(fmt.Errorf("sink: %w", err))
		}
		s.Metrics.sinkErrors.Inc()
		return fmt.Errorf("sink: %w", err)
	}
	s.Metrics.sinkBatch.Observe(float64(len(batch)))
	s.Metrics.sinkWrite.Observe(time.Since(start).Seconds())
	return nil
}

// disabledData is the body of a hookstream.endpoint.disabled event.
type disabledData struct {
	EndpointID string    `json:"endpoint_id"`
	URL        string    `json:"url"`
	Reason     string    `json:"reason"`
	Failures   int       `json:"consecutive_failures"`
	DisabledAt time.Time `json:"disabled_at"`
}

// recoveredData is the body of a hookstream.endpoint.recovered event.
type recoveredData struct {
	EndpointID  string    `json:"endpoint_id"`
	URL         string    `json:"url"`
	Probes      int       `json:"probes"`
	RecoveredAt time.Time `json:"recovered_at"`
}

// announce publishes the operational events before the store commits the
// changes: hookstream.endpoint.disabled, hookstream.endpoint.recovered.
// Their ids derive from the attempt that changed the endpoint, so a batch
// written again after a crash publishes nothing new (the dispatcher drops
// the repeated id).
func (s *Sink) announce(ctx context.Context, changes []schema.EndpointChange) error {
	for _, c := range changes {
		var (
			typ  string
			body any
		)
		if c.State == schema.EndpointEnabled {
			s.Metrics.recovered.Inc()
			s.Log.Info("endpoint recovered: a probe succeeded", "endpoint_id", c.EndpointID, "tenant", c.Tenant, "probes", c.Probes)
			typ, body = schema.EndpointRecoveredType, recoveredData{EndpointID: c.EndpointID, URL: c.DisplayURL,
				Probes: c.Probes, RecoveredAt: c.At.UTC()}
		} else {
			s.Metrics.disabled.Inc()
			s.Log.Warn("endpoint disabled", "endpoint_id", c.EndpointID, "tenant", c.Tenant, "reason", c.Reason)
			typ, body = schema.EndpointDisabledType, disabledData{EndpointID: c.EndpointID, URL: c.DisplayURL,
				Reason: c.Reason, Failures: c.Failures, DisabledAt: c.At.UTC()}
		}
		if s.Producer == nil {
			continue
		}
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		ev := schema.Event{
			ID: schema.StableID("evt_", typ, c.EndpointID, c.Cause), Tenant: c.Tenant,
			Type: typ, Data: data, CreatedAt: c.At.UTC(),
		}
		r := &kgo.Record{Topic: s.Topics.Events(), Key: []byte(ev.ID), Value: schema.EncodeEvent(ev),
			Headers: []kgo.RecordHeader{s.Origin.Header(ev)}}
		if err := s.Producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			return fmt.Errorf("announce %s of endpoint %s: %w", typ, c.EndpointID, err)
		}
	}
	return nil
}
