package pipeline

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/schema"
)

// Queue puts tasks on the deliveries topic outside the stages: replays of
// parked deliveries, manual retries.
type Queue struct {
	Client *kgo.Client
	Topics Topics
}

// Enqueue produces the tasks, keyed by endpoint id, in order, and returns
// once the broker stored them all (or failed to).
func (q *Queue) Enqueue(ctx context.Context, tasks []schema.Task) error {
	recs := make([]*kgo.Record, len(tasks))
	for i, t := range tasks {
		recs[i] = &kgo.Record{Topic: q.Topics.Deliveries(), Key: []byte(t.EndpointID), Value: schema.EncodeTask(t)}
	}
	if err := q.Client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("enqueue tasks: %w", err)
	}
	return nil
}
