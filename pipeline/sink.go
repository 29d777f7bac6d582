package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/schema"
)

// AttemptStore records attempt outcomes; see postgres.DB.WriteAttempts.
type AttemptStore interface {
	WriteAttempts(ctx context.Context, batch []schema.Attempt) error
}

// Sink writes attempt outcomes to the store in batches.
type Sink struct {
	DB      AttemptStore
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
			// comes from a newer version or a stray producer. Keep going.
			s.Metrics.undecodable.Inc()
			s.Log.Error("undecodable attempt skipped", "source", source(r), "err", err)
			continue
		}
		batch = append(batch, a)
	}
	start := time.Now()
	if err := s.DB.WriteAttempts(ctx, batch); err != nil {
		s.Metrics.sinkErrors.Inc()
		return fmt.Errorf("sink: %w", err)
	}
	s.Metrics.sinkBatch.Observe(float64(len(batch)))
	s.Metrics.sinkWrite.Observe(time.Since(start).Seconds())
	return nil
}
