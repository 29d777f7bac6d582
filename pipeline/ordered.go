package pipeline

import (
	"context"
	"sync"
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
	ResolveOrdered(ctx context.Context, endpointID, key string, seq int64, halt bool) (schema.Resolution, error)
}

// maxKeyWaiters bounds the tasks of one key that wait in memory, in one
// deliverer, for an earlier task of their key in flight there. Past it a
// task goes to the gate at once, which blocks it in Postgres: a key with a
// backlog does not fill its partition's slots.
const maxKeyWaiters = 4

// maxEndpointWaiters bounds the tasks of one endpoint, all keys together,
// that wait in memory in one deliverer: an ordered endpoint with many keys
// that answers slowly must not fill its partition's records in flight
// (others' tasks share them). Past it tasks go to the gate at once.
const maxEndpointWaiters = 16

// keyTurns lets the tasks of one endpoint and key in one deliverer go one
// after the other, lowest sequence number first, so that a steady stream of
// one key passes the gate as heads rather than being blocked and released
// one by one. It is only an optimisation: the gate decides.
//
// One table serves every deliverer of the process (the stages and tiers):
// endpoint ids make the keys unique.
var turns keyTurns

type keyTurns struct {
	mu      sync.Mutex
	keys    map[turnKey]*turn
	waiting map[string]int // tasks waiting in memory, by endpoint
}

type turnKey struct{ endpoint, key string }

type turn struct {
	active  map[int64]bool // sequence numbers in this process, running or waiting
	changed chan struct{}  // closed and replaced whenever active shrinks
}

// wait registers seq and waits until no lower number of its key is active
// here (or ctx ends, or there are too many waiters already). The returned
// function unregisters it.
func (k *keyTurns) wait(ctx context.Context, endpoint string, o *schema.TaskOrder) func() {
	tk := turnKey{endpoint, o.Key}
	k.mu.Lock()
	if k.keys == nil {
		k.keys, k.waiting = map[turnKey]*turn{}, map[string]int{}
	}
	t := k.keys[tk]
	if t == nil {
		t = &turn{active: map[int64]bool{}, changed: make(chan struct{})}
		k.keys[tk] = t
	}
	t.active[o.Seq] = true
	done := func() {
		k.mu.Lock()
		delete(t.active, o.Seq)
		close(t.changed)
		t.changed = make(chan struct{})
		if len(t.active) == 0 {
			delete(k.keys, tk)
		}
		k.mu.Unlock()
	}
	if len(t.active) > maxKeyWaiters || k.waiting[endpoint] >= maxEndpointWaiters {
		k.mu.Unlock()
		return done
	}
	waited := false
	defer func() {
		if waited {
			k.mu.Lock()
			if k.waiting[endpoint]--; k.waiting[endpoint] <= 0 {
				delete(k.waiting, endpoint)
			}
			k.mu.Unlock()
		}
	}()
	for {
		earlier := false
		for s := range t.active {
			if s < o.Seq {
				earlier = true
				break
			}
		}
		if !earlier {
			k.mu.Unlock()
			return done
		}
		if !waited {
			waited = true
			k.waiting[endpoint]++
		}
		ch := t.changed
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return done
		}
		k.mu.Lock()
	}
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
func (d *Deliverer) resolve(ctx context.Context, task schema.Task, g schema.Gate, halt bool, emit consumer.Emit) (*schema.Task, error) {
	wait := 100 * time.Millisecond
	for {
		res, err := d.Order.ResolveOrdered(ctx, task.EndpointID, g.Key, g.Seq, halt)
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
