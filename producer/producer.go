// Package producer publishes events to hookstream from a Go service.
//
// A Client wraps an idempotent franz-go producer (acks from all in-sync
// replicas) writing to the events topic. Publish fills in the event's id
// and time when missing, validates it the way the dispatcher will, and
// returns only once the broker has stored it (or failed to). The package
// imports nothing of hookstream but its message schema, so a service pulls
// in little beyond franz-go.
//
// Events published twice with the same id (per tenant) are delivered once:
// use a stable id (an idempotency key of your own) when a publish may be
// retried.
package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/schema"
)

// DefaultTopic is the events topic under the default prefix.
const DefaultTopic = "hookstream.events"

// MaxEventBytes is the largest encoded event the dispatcher accepts by
// default; Publish refuses larger ones before sending.
const MaxEventBytes = 1 << 20

// ErrTooLarge is returned for an event whose encoding exceeds the limit,
// or that the broker refuses as too large for the events topic. Publishing
// it again cannot succeed.
var ErrTooLarge = errors.New("producer: event too large")

// Client publishes events. It is safe for concurrent use.
type Client struct {
	cl       *kgo.Client
	topic    string
	maxBytes int
	borrowed bool
}

// Option configures a Client.
type Option func(*Client, *[]kgo.Opt)

// WithTopic publishes to topic instead of DefaultTopic (for a prefix other
// than "hookstream.").
func WithTopic(topic string) Option {
	return func(c *Client, _ *[]kgo.Opt) { c.topic = topic }
}

// WithMaxBytes changes the size limit checked before sending.
func WithMaxBytes(n int) Option {
	return func(c *Client, _ *[]kgo.Opt) { c.maxBytes = n }
}

// WithKafkaOptions passes options to the franz-go client: TLS, SASL,
// logging, linger.
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(_ *Client, o *[]kgo.Opt) { *o = append(*o, opts...) }
}

// New returns a client for the given seed brokers.
func New(brokers []string, opts ...Option) (*Client, error) {
	c := &Client{topic: DefaultTopic, maxBytes: MaxEventBytes}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ClientID("hookstream-producer"),
	}
	for _, o := range opts {
		o(c, &kopts)
	}
	// Room for the largest event allowed (the broker's topic limit must
	// allow it too: hookstream creates its topics so).
	kopts = append(kopts, kgo.ProducerBatchMaxBytes(int32(c.maxBytes+64<<10)))
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Wrap publishes through an existing franz-go client, which the caller
// configured and closes (Close on the result does nothing). Options that
// configure a client (WithKafkaOptions) have no effect.
func Wrap(cl *kgo.Client, opts ...Option) *Client {
	c := &Client{cl: cl, topic: DefaultTopic, maxBytes: MaxEventBytes, borrowed: true}
	var ignored []kgo.Opt
	for _, o := range opts {
		o(c, &ignored)
	}
	return c
}

// Prepare fills in an event's id and creation time when absent and
// validates it. Publish calls it; it is exported for callers that want to
// check an event before they queue it.
func Prepare(ev *schema.Event, now time.Time) error {
	if ev.ID == "" {
		ev.ID = schema.NewID("evt_")
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = now.UTC()
	}
	return ev.Validate()
}

// Publish stores one event in the events topic and returns it as stored
// (with its id). The record key is the tenant: each tenant's events share a
// partition, so that one tenant's backlog on the events topic is not in
// front of other tenants' events (see Dispatcher in package pipeline).
func (c *Client) Publish(ctx context.Context, ev schema.Event) (schema.Event, error) {
	if err := Prepare(&ev, time.Now()); err != nil {
		return ev, fmt.Errorf("producer: %w", err)
	}
	b := schema.EncodeEvent(ev)
	if len(b) > c.maxBytes {
		return ev, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), c.maxBytes)
	}
	r := &kgo.Record{Topic: c.topic, Key: []byte(ev.Tenant), Value: b}
	if hs, ok := ctx.Value(headersKey{}).([]kgo.RecordHeader); ok {
		r.Headers = hs
	}
	if err := c.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		if errors.Is(err, kerr.MessageTooLarge) {
			// The topic's max.message.bytes (or the client's batch
			// limit) is below ours: as final as our own check.
			return ev, fmt.Errorf("%w: %d bytes, more than the topic accepts: %w", ErrTooLarge, len(b), err)
		}
		return ev, fmt.Errorf("producer: publish %s: %w", ev.ID, err)
	}
	return ev, nil
}

type headersKey struct{}

// WithHeaders returns ctx with record headers (name, value pairs) that
// Publish puts on the event's record: a W3C traceparent and tracestate,
// for instance, which hookstream carries through to the webhooks.
func WithHeaders(ctx context.Context, kv ...string) context.Context {
	hs := make([]kgo.RecordHeader, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return context.WithValue(ctx, headersKey{}, hs)
}

// Ping checks that a broker answers.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.cl.Ping(ctx); err != nil {
		return fmt.Errorf("producer: ping: %w", err)
	}
	return nil
}

// Close closes the client, unless it was borrowed with Wrap. Publish is
// synchronous: there is nothing to flush.
func (c *Client) Close() {
	if !c.borrowed {
		c.cl.Close()
	}
}
