package pipeline

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/schema"
)

// OrderGate is the ordering gate of endpoints that ask for ordered
// delivery (docs/ordering.md): see postgres.DB.AcquireOrdered and
// ResolveOrdered.
type OrderGate interface {
	AcquireOrdered(ctx context.Context, endpointID, deliveryID string, order *schema.TaskOrder, attempt, tier int) (schema.Gate, error)
	ResolveOrdered(ctx context.Context, endpointID, key string, seq int64, halt bool, by string) (schema.Resolution, error)
}

// maxChain bounds the released deliveries one task handles after its own
// (see Deliverer.Process): past it the next goes through the released
// topic, so that one record is not held, and its partition's commits with
// it, for a whole key's backlog.
const maxChain = 32

// resolve tells the gate that the head of a key reached its end, emits the
// outcomes of what it passed over, and returns the next delivery's task
// when it was released. It retries while Postgres does not answer: the
// task is not done before its key moves on (else the key would wait for
// good), and ending it early would send it again.
func (d *Deliverer) resolve(ctx context.Context, task schema.Task, g schema.Gate, halt bool, by string, emit consumer.Emit) (*schema.Task, error) {
	wait := 100 * time.Millisecond
	for {
		res, err := d.Order.ResolveOrdered(ctx, task.EndpointID, g.Key, g.Seq, halt, by)
		if err == nil {
			if res.Halted {
				d.Metrics.orderHalted.Inc()
			}
			for _, gone := range res.Gone {
				d.outcome(gone, schema.OutcomeDead, nil, "event removed by retention while blocked", nil, emit)
			}
			if res.Release != nil {
				d.Metrics.orderReleased.Inc()
			}
			return res.Release, nil
		}
		d.Log.Warn("resolving an ordered delivery failed; retrying", "delivery_id", task.DeliveryID, "err", err)
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// emitReleased produces a released task to the released topic, keyed by
// endpoint like every task.
func (d *Deliverer) emitReleased(t *schema.Task, emit consumer.Emit) {
	if t == nil {
		return
	}
	emit(&kgo.Record{Topic: d.Topics.Released(), Key: []byte(t.EndpointID), Value: schema.EncodeTask(*t)})
}

// blockedText is the error shown with a delivery blocked behind an earlier
// one of its key.
const blockedText = "waiting for an earlier delivery of its ordering key"

// blockedRecord is the attempt record of a delivery blocked at birth (see
// postgres.DB.AssignOrder): nothing sent, waiting for the head of its key.
func blockedRecord(topics Topics, task schema.Task, waitingFor string, at time.Time) *kgo.Record {
	a := taskAttempt(task, schema.OutcomeBlocked, blockedText, waitingFor, at)
	return &kgo.Record{Topic: topics.Attempts(), Key: []byte(a.EndpointID), Value: schema.EncodeAttempt(a)}
}
