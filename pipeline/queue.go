package pipeline

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/schema"
)

// Queue puts tasks on the deliveries topic outside the stages: replays of
// parked deliveries, manual retries, recoveries.
type Queue struct {
	Client *kgo.Client
	Topics Topics
	// Bulk puts the tasks in the bulk lane (Topics.Bulk), for a batch that
	// must not wait in front of every tenant's new deliveries, such as a
	// recovery since yesterday.
	Bulk bool
}

// Enqueue produces the tasks, keyed by endpoint id, in order, and returns
// once the broker stored them all (or failed to).
func (q *Queue) Enqueue(ctx context.Context, tasks []schema.Task) error {
	topic := q.Topics.Deliveries()
	if q.Bulk {
		topic = q.Topics.Bulk()
	}
	recs := make([]*kgo.Record, len(tasks))
	for i, t := range tasks {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(t.EndpointID), Value: schema.EncodeTask(t)}
	}
	if err := q.Client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("enqueue tasks: %w", err)
	}
	return nil
}
