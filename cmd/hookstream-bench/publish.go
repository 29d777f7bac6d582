package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/schema"
)

// publisher produces bench events straight to the events topic, as a
// service would: linger, many records in flight, keyed by tenant.
type publisher struct {
	cl *kgo.Client
	// own holds the clients of tenants that publish with a producer of
	// their own, as separate services do (see ownProducer).
	own   map[string]*kgo.Client
	opts  []kgo.Opt
	topic string
	runID string
	pad   string
	// tenant is the tenant of event seq (nil: the default tenant).
	tenant func(seq int) string
	// orderKey is the ordering key of event seq (nil: none).
	orderKey func(seq int) string
	// traceparent puts a traceparent header (a trace of its own) on every
	// record.
	traceparent bool
	// topicOf is the topic of event seq (nil, or "": topic). Records of
	// another topic are counted in aside, not acked: nothing delivers them.
	topicOf func(seq int) string
	sent    atomic.Int64 // handed to the client
	acked   atomic.Int64
	aside   atomic.Int64
	failed  atomic.Int64
}

func newPublisher(brokers []string, topic, runID string, payload int) (*publisher, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(50_000),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(10),
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &publisher{cl: cl, opts: opts, own: map[string]*kgo.Client{}, topic: topic, runID: runID,
		pad: strings.Repeat("x", payload)}, nil
}

// ownProducer gives tenant's events a client of their own. Two services
// do not share a producer: on one client, a tenant's trickle would queue
// behind another's backlog in the client's buffer and produce requests,
// a wait of the publisher's, not of hookstream's.
func (p *publisher) ownProducer(tenant string) error {
	cl, err := kgo.NewClient(p.opts...)
	if err != nil {
		return err
	}
	p.own[tenant] = cl
	return nil
}

func (p *publisher) close() {
	p.cl.Close()
	for _, cl := range p.own {
		cl.Close()
	}
}

// flush waits until every client's records are acknowledged (or failed).
func (p *publisher) flush(ctx context.Context) {
	_ = p.cl.Flush(ctx)
	for _, cl := range p.own {
		_ = cl.Flush(ctx)
	}
}

// eventID is the id of event seq of this run.
func (p *publisher) eventID(seq int) string { return p.runID + "-" + strconv.Itoa(seq) }

// publish hands event seq to the producer; its data carries the time.
func (p *publisher) publish(ctx context.Context, seq int, typ string) {
	now := time.Now()
	id := p.eventID(seq)
	tenant := schema.DefaultTenant
	if p.tenant != nil {
		tenant = p.tenant(seq)
	}
	ev := schema.Event{ID: id, Tenant: tenant, Type: typ,
		Data: eventBody(seq, now.UnixNano(), p.pad), CreatedAt: now}
	if p.orderKey != nil {
		ev.OrderingKey = p.orderKey(seq)
	}
	p.sent.Add(1)
	topic := p.topic
	if p.topicOf != nil {
		topic = cmp.Or(p.topicOf(seq), p.topic)
	}
	r := &kgo.Record{Topic: topic, Key: []byte(tenant), Value: schema.EncodeEvent(ev)}
	if p.traceparent {
		r.Headers = []kgo.RecordHeader{{Key: "traceparent", Value: []byte(fmt.Sprintf("00-%016x%016x-%016x-01", now.UnixNano(), seq+1, seq+1))}}
	}
	cl := p.cl
	if own, ok := p.own[tenant]; ok {
		cl = own
	}
	cl.Produce(ctx, r,
		func(_ *kgo.Record, err error) {
			switch {
			case err != nil:
				p.failed.Add(1)
			case topic != p.topic:
				p.aside.Add(1)
			default:
				p.acked.Add(1)
			}
		})
}

// run publishes events 0..n-1 of type typ(seq): at rate per second, or
// as fast as the client takes them when rate is 0. It returns once all are
// acknowledged (or failed).
func (p *publisher) run(ctx context.Context, n int, rate float64, typ func(seq int) string) {
	p.runRange(ctx, 0, n, rate, typ)
}

// runRange is run for events from..to-1.
func (p *publisher) runRange(ctx context.Context, from, to int, rate float64, typ func(seq int) string) {
	start := time.Now()
	for seq := from; seq < to && ctx.Err() == nil; seq++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(seq-from) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		p.publish(ctx, seq, typ(seq))
	}
	_ = p.cl.Flush(ctx)
}
