package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/catalog"
	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/filter"
	"github.com/hookstream/hookstream/quota"
	"github.com/hookstream/hookstream/routing"
	"github.com/hookstream/hookstream/schema"
)

// ClaimGate is the dedupe gate: see postgres.DB.ClaimEvents.
type ClaimGate interface {
	ClaimEvents(ctx context.Context, claims []schema.Claim) ([]bool, error)
}

// Matcher returns the ids of the endpoints subscribed to an event, and
// whether an endpoint asks for ordered delivery, and which of the
// subscribed endpoints' filters let an event through (see
// routing.Table.Filter).
type Matcher interface {
	Match(tenant, eventType string) []string
	Ordered(endpointID string) bool
	Filter(tenant string, ids []string, in *filter.Input) (kept []string, dropped, failed int)
}

// Sequencer numbers the deliveries to ordered endpoints per endpoint and
// key, and holds back those later than the head of their key: see
// postgres.DB.AssignOrder.
type Sequencer interface {
	AssignOrder(ctx context.Context, reqs []schema.OrderRequest) ([]schema.OrderPlace, error)
}

// HeaderRecordKey carries the key of an event's original record on its
// copy in the bulk lane (whose records are keyed by position), so that the
// bulk dispatcher derives the same ordering key.
const HeaderRecordKey = "hookstream-record-key"

// Dispatcher turns events into one delivery task per subscribed endpoint.
//
// A deployment runs two: the fast one reads the events topic, the bulk one
// the bulk lane of events (Topics.EventsBulk). The fast one claims and fans
// out the events of each tenant within its share of the fast lane (Lanes)
// and forwards the others, unclaimed and as they are, to the bulk lane:
// forwarding costs no Postgres work, so one tenant's backlog on the events
// topic is read past at Kafka's speed and the events of the others behind
// it are not kept waiting for its fan-out. The bulk one fans out what was
// forwarded, into the bulk lane of tasks (Topics.Bulk).
type Dispatcher struct {
	Topics Topics
	Gate   ClaimGate
	Routes Matcher
	// Order numbers the deliveries to endpoints that ask for order; nil
	// fans out every delivery unordered.
	Order  Sequencer
	Origin Origin
	// Catalog, when set, checks each event's data against its type's
	// schema: an event that fails goes to the invalid topic with the
	// schema's reason.
	Catalog       *catalog.Catalog
	MaxEventBytes int
	// MaxFanout bounds the endpoints one event may reach (0: no bound);
	// an event matching more goes to the invalid topic.
	MaxFanout int
	// MaxBatchTasks bounds the tasks of one transaction (default
	// DefaultMaxBatchTasks); one event's fan-out is never split.
	MaxBatchTasks int
	// Lanes is each tenant's share of the fast lane, in tasks (an event
	// without subscribers counts as one): an event that does not fit in its
	// tenant's bucket is forwarded to the bulk lane. Nil keeps every event
	// in the fast lane.
	Lanes *quota.Buckets
	// Bulk makes this the bulk lane's dispatcher: it reads
	// Topics.EventsBulk, claims each event at the position it was first
	// published at (HeaderSource) and puts every task in Topics.Bulk.
	Bulk bool
	// Priority, on the fast dispatcher, hears how late each batch's
	// events are committed (from their arrival in this process);
	// Yield paces the bulk one (see Priority). Both may be nil.
	Priority *Priority
	Yield    *Lane
	// Source makes this the dispatcher of a source: it reads the source's
	// topics, each record made an event by the source's rules
	// (schema.Source.Read), claimed at its own position. Records of
	// hookstream's own topics (Topics.Prefix), which a pattern may match,
	// are passed over. Lanes, Bulk, Priority and Yield must be unset.
	Source *schema.Source
	// Tracer, when set, adds a span per event fanned out; without one, an
	// event's trace context is passed on to its tasks as it came.
	Tracer  trace.Tracer
	Metrics *Metrics
	Log     *slog.Logger
}

// maxInvalidCopy bounds the copy of an oversized record kept in the invalid
// topic, so that the copy itself always fits.
const maxInvalidCopy = 64 << 10

// maxYield bounds how long the bulk dispatcher waits for its turn inside a
// transaction, far below the transaction's timeout.
const maxYield = 2 * time.Second

// DefaultMaxBatchTasks bounds the tasks of one transaction when
// Dispatcher.MaxBatchTasks is 0.
const DefaultMaxBatchTasks = 20000

// position is where an event was first published: its record on the
// events topic. The dedupe gate owns each event by it, and an event
// without an id gets one derived from it, so that it is the same in either
// lane and on every read.
type position struct {
	topic     string
	partition int32
	offset    int64
}

func (p position) String() string {
	return p.topic + "/" + strconv.Itoa(int(p.partition)) + "/" + strconv.FormatInt(p.offset, 10)
}

// Transform is the dispatcher's consumer.TransformFunc. Records that are not
// valid events go to the invalid topic with the reason (an event matching
// more than MaxFanout endpoints too); the fast dispatcher forwards the
// events of tenants past their share (Lanes); the other valid events pass
// the dedupe gate, and those due for fan-out become tasks keyed by
// endpoint id. Tasks, forwarded events and offsets commit together. A
// batch that would make more than MaxBatchTasks tasks is split
// (consumer.ErrSplit) before anything is claimed, so that a huge fan-out
// never holds one transaction near its timeout.
func (d *Dispatcher) Transform(ctx context.Context, recs []*kgo.Record, emit consumer.Emit) error {
	type bad struct {
		r      *kgo.Record
		at     position
		reason string
	}
	var (
		invalid []bad
		claims  = make([]schema.Claim, 0, len(recs))
		targets = make([][]string, 0, len(recs))
		srcs    = make([]*kgo.Record, 0, len(recs))
		// The fast dispatcher's forwards, decided before anything is
		// emitted: a batch that is split is decided again.
		forward []*kgo.Record
		tasks   int
		// Endpoints an event did not go to because of their filters, and
		// those of them whose filter failed.
		filteredOut, filterFailed int
	)
	lanes := d.Lanes != nil && !d.Bulk && d.Lanes.Limit.Rate > 0
	var perTenant map[string]int
	if lanes {
		perTenant = map[string]int{}
	}
	for _, r := range recs {
		if d.Source != nil && d.ownTopic(r.Topic) {
			continue
		}
		at, err := d.position(r)
		if err != nil {
			// Only hookstream writes the bulk lane: a record without its
			// position can never be claimed.
			return consumer.Poison(fmt.Errorf("dispatch: %w", err))
		}
		ev, err := d.decode(r, at)
		if err == nil {
			// Its type's schema, where events of the type are checked.
			err = d.Catalog.Check(&ev)
		}
		var ids []string
		if err == nil {
			ids = d.Routes.Match(ev.Tenant, ev.Type)
			if ev.EndpointID != "" {
				ids = only(ids, ev.EndpointID)
			}
			err = schema.CheckFanout(len(ids), d.MaxFanout)
		}
		if err == nil {
			var dropped, failed int
			ids, dropped, failed = d.Routes.Filter(ev.Tenant, ids, routing.FilterInput(ev, filterHeaders(r)))
			filteredOut += dropped
			filterFailed += failed
		}
		if err != nil {
			invalid = append(invalid, bad{r, at, err.Error()})
			continue
		}
		c := schema.Claim{Event: ev, Partition: at.partition, Offset: at.offset}
		if d.Source != nil {
			c.Topic = at.topic
		}
		claims = append(claims, c)
		targets = append(targets, ids)
		srcs = append(srcs, r)
		tasks += len(ids)
		if lanes {
			perTenant[ev.Tenant] += max(1, len(ids))
		}
	}
	if lanes {
		// Only what the tenants' shares let stay in the fast lane is
		// claimed and fanned out here; the rest is forwarded at no cost.
		tasks = keptBound(perTenant, d.Lanes.Limit.Burst)
	}
	maxTasks := d.MaxBatchTasks
	if maxTasks <= 0 {
		maxTasks = DefaultMaxBatchTasks
	}
	if tasks > maxTasks && len(recs) > 1 {
		return fmt.Errorf("dispatch: %d tasks for %d events: %w", tasks, len(recs), consumer.ErrSplit)
	}
	if d.Bulk && d.Yield != nil {
		// Inside the transaction: a bounded wait, the rest owed by the
		// next batch.
		if err := d.Yield.Wait(ctx, max(tasks, len(claims)), maxYield); err != nil {
			return err
		}
	}
	start := time.Now()
	if d.Lanes != nil && !d.Bulk {
		// Past the split: each event takes its tenant's tokens once. An
		// event that reaches an ordered endpoint stays in this lane
		// whatever its tenant's share: forwarded, it could be fanned out
		// after a later event of its key (docs/ordering.md).
		kept := 0
		for i, c := range claims {
			if _, ok := d.Lanes.Take(c.Event.Tenant, max(1, len(targets[i]))); !ok && !d.anyOrdered(targets[i]) {
				forward = append(forward, srcs[i])
				d.Priority.Forwarded(c.Event.Tenant)
				continue
			}
			claims[kept], targets[kept], srcs[kept] = c, targets[i], srcs[i]
			kept++
		}
		claims, targets, srcs = claims[:kept], targets[:kept], srcs[:kept]
	}
	if !d.Bulk && d.Priority != nil {
		// The fast lane's lateness here is how long the oldest event of
		// the batch waited from its arrival in this process until its
		// tasks were committed: behind the batches before it (which a
		// busy broker and Postgres make longer), in the claim and in the
		// commit. Only the events of tenants with nothing in the bulk
		// lanes count: a tenant's own backlog does not make the bulk
		// lanes yield to the same tenant's fast-lane share.
		since, count := start, false
		for i, c := range claims {
			if d.Priority.InBulk(c.Event.Tenant) {
				continue
			}
			count = true
			if at := consumer.Fetched(srcs[i]); !at.IsZero() && at.Before(since) {
				since = at
			}
		}
		if count {
			consumer.OnCommit(ctx, func() { d.Priority.Observe(time.Since(since)) })
		}
	}
	for _, b := range invalid {
		d.Log.Info("invalid event", "source", b.at.String(), "reason", b.reason)
		emit(d.invalidRecord(b.r, b.at, b.reason))
	}
	for _, r := range forward {
		emit(d.forwardRecord(r))
	}
	// Counted once the batch commits: not again when it is read again.
	var events, duplicates, made int
	defer consumer.OnCommit(ctx, func() {
		d.Metrics.invalid.Add(float64(len(invalid)))
		d.Metrics.forwarded.Add(float64(len(forward)))
		d.Metrics.events.Add(float64(events))
		d.Metrics.duplicates.Add(float64(duplicates))
		d.Metrics.tasks.Add(float64(made))
		d.Metrics.filteredOut.Add(float64(filteredOut))
		d.Metrics.filterFailed.Add(float64(filterFailed))
		if d.Bulk {
			d.Metrics.bulk.Add(float64(made))
		}
	})
	if len(claims) == 0 {
		return nil
	}
	fresh, err := d.Gate.ClaimEvents(ctx, claims)
	if errors.Is(err, schema.ErrInvalidData) {
		// An event the store refuses: isolated and quarantined by the
		// consumer, while the others go on.
		return consumer.Poison(fmt.Errorf("dispatch: %w", err))
	}
	if err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	lane := d.Topics.Deliveries()
	if d.Bulk {
		lane = d.Topics.Bulk()
	}
	// Taken before the numbers: a delivery held at birth is shown blocked
	// as of now, before whatever its release leads to (the sink keeps a
	// delivery's latest outcome).
	at := time.Now().UTC()
	places, err := d.number(ctx, claims, targets, fresh)
	if err != nil {
		return err
	}
	var blocked int
	defer consumer.OnCommit(ctx, func() {
		d.Metrics.orderBlocked.Add(float64(blocked))
		d.Metrics.outcomes.WithLabelValues(string(schema.OutcomeBlocked)).Add(float64(blocked))
	})
	for i, c := range claims {
		if !fresh[i] {
			duplicates++
			continue
		}
		events++
		th := dispatchSpan(ctx, d.Tracer, srcs[i], &c.Event, len(targets[i]), d.Bulk)
		for j, id := range targets[i] {
			t := schema.NewTask(c.Event, id)
			if p := places[i][j]; p.Seq > 0 {
				t.Order = &schema.TaskOrder{Key: c.Event.OrderKey(), Seq: p.Seq}
				if p.Blocked {
					// Blocked at birth: no task, which would only be
					// blocked at the gate; the resolution of the
					// delivery before it releases it (docs/ordering.md).
					blocked++
					emit(blockedRecord(d.Topics, t, p.WaitingFor, at))
				}
				if p.Held {
					continue
				}
			}
			emit(&kgo.Record{Topic: lane, Key: []byte(id), Value: schema.EncodeTask(t), Headers: th})
			made++
		}
	}
	return nil
}

func (d *Dispatcher) anyOrdered(ids []string) bool {
	if d.Order == nil {
		return false
	}
	for _, id := range ids {
		if d.Routes.Ordered(id) {
			return true
		}
	}
	return false
}

// number gives each fresh delivery to an ordered endpoint its place in its
// key, in the order of the batch (number 0 for the others), before the
// batch's tasks are committed: read again after a crash, the batch gets
// the same numbers (postgres.DB.AssignOrder).
func (d *Dispatcher) number(ctx context.Context, claims []schema.Claim, targets [][]string, fresh []bool) ([][]schema.OrderPlace, error) {
	seqs := make([][]schema.OrderPlace, len(claims))
	var reqs []schema.OrderRequest
	type at struct{ i, j int }
	var where []at
	for i, c := range claims {
		seqs[i] = make([]schema.OrderPlace, len(targets[i]))
		if !fresh[i] || d.Order == nil {
			continue
		}
		for j, id := range targets[i] {
			if !d.Routes.Ordered(id) {
				continue
			}
			reqs = append(reqs, schema.OrderRequest{DeliveryID: schema.DeliveryID(c.Event.Tenant, c.Event.ID, id),
				EndpointID: id, Key: c.Event.OrderKey(), Tenant: c.Event.Tenant, EventID: c.Event.ID, EventType: c.Event.Type})
			where = append(where, at{i, j})
		}
	}
	if len(reqs) == 0 {
		return seqs, nil
	}
	got, err := d.Order.AssignOrder(ctx, reqs)
	if errors.Is(err, schema.ErrInvalidData) {
		return nil, consumer.Poison(fmt.Errorf("dispatch: %w", err))
	}
	if err != nil {
		return nil, fmt.Errorf("dispatch: %w", err)
	}
	for k, w := range where {
		seqs[w.i][w.j] = got[k]
	}
	return seqs, nil
}

// position returns where r's event was first published: r itself on the
// events topic; the source header on the bulk lane, which only the fast
// dispatcher writes.
func (d *Dispatcher) position(r *kgo.Record) (position, error) {
	if !d.Bulk {
		return position{r.Topic, r.Partition, r.Offset}, nil
	}
	var v string
	for _, h := range r.Headers {
		if h.Key == schema.HeaderSource {
			v = string(h.Value)
		}
	}
	rest, off, ok1 := cutLast(v)
	topic, part, ok2 := cutLast(rest)
	o, err1 := strconv.ParseInt(off, 10, 64)
	p, err2 := strconv.ParseInt(part, 10, 32)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || topic != d.Topics.Events() || p < 0 || o < 0 {
		return position{}, fmt.Errorf("a record of the bulk lane without a valid %s header (%q)", schema.HeaderSource, schema.CleanText(v))
	}
	return position{topic, int32(p), o}, nil
}

// keptBound bounds the tasks the fast dispatcher may keep of a batch: a
// tenant keeps at most a full bucket (burst) of its tasks, whatever it
// sent, so a batch is split for what it could claim, not for what it
// forwards.
func keptBound(perTenant map[string]int, burst int) int {
	n := 0
	for _, t := range perTenant {
		n += min(t, burst)
	}
	return n
}

// filterHeaders returns a func making r's headers (but hookstream's own)
// into a map, for the filters that read them.
func filterHeaders(r *kgo.Record) func() map[string]string {
	return func() map[string]string {
		h := make(map[string]string, len(r.Headers))
		for _, kv := range r.Headers {
			if !strings.HasPrefix(kv.Key, "hookstream-") {
				h[kv.Key] = string(kv.Value)
			}
		}
		return h
	}
}

// only narrows ids to id, when it is among them.
func only(ids []string, id string) []string {
	for _, x := range ids {
		if x == id {
			return []string{id}
		}
	}
	return nil
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// decode validates a record and fills in a missing id (derived from the
// record's position, so a re-read gives the same id) and creation time.
func (d *Dispatcher) decode(r *kgo.Record, at position) (schema.Event, error) {
	if d.MaxEventBytes > 0 && len(r.Value) > d.MaxEventBytes {
		return schema.Event{}, fmt.Errorf("value: %d bytes exceeds the limit of %d", len(r.Value), d.MaxEventBytes)
	}
	var (
		ev  schema.Event
		err error
	)
	if d.Source != nil {
		ev, err = d.Source.Read(schema.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
			Key: r.Key, Value: r.Value, Headers: recordHeaders(r), Timestamp: r.Timestamp})
	} else {
		ev, err = decodeRecord(r)
	}
	if err != nil {
		return ev, err
	}
	if strings.HasPrefix(ev.Type, schema.ReservedTypePrefix) && !d.Origin.Verify(r, ev) {
		return ev, fmt.Errorf("type: the %q namespace is reserved for hookstream's own events", schema.ReservedTypePrefix)
	}
	if ev.ID == "" {
		ev.ID = schema.DerivedEventID(at.topic, at.partition, at.offset)
	}
	if ev.OrderingKey == "" {
		key := r.Key
		if d.Bulk {
			key = nil
			for _, h := range r.Headers {
				if h.Key == HeaderRecordKey {
					key = h.Value
				}
			}
		}
		ev.OrderingKey = schema.RecordOrderingKey(key, ev.Tenant)
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = r.Timestamp.UTC()
	}
	return ev, nil
}

// decodeRecord reads the event a record of the events topic carries: a
// CloudEvent in either mode of the Kafka protocol binding (its tenant from
// the tenant extension attribute), or else hookstream's JSON envelope.
func decodeRecord(r *kgo.Record) (schema.Event, error) {
	hs := recordHeaders(r)
	mode := schema.CloudEventModeOf(hs)
	if mode == schema.NotCloudEvent {
		return schema.DecodeEvent(r.Value)
	}
	ev, err := schema.DecodeCloudEvent(mode, hs, r.Value)
	if err != nil {
		return ev, err
	}
	if ev.Tenant == "" {
		return ev, &schema.FieldError{Field: "tenant", Reason: "is required: the CloudEvents extension attribute " +
			schema.TenantAttribute + " (header " + schema.CloudEventsHeaderPrefix + schema.TenantAttribute + " in binary mode)"}
	}
	return ev, ev.Validate()
}

// ownTopic reports whether a topic is one of hookstream's own, or Kafka's.
func (d *Dispatcher) ownTopic(topic string) bool {
	return strings.HasPrefix(topic, d.Topics.Prefix) || strings.HasPrefix(topic, "__")
}

// recordHeaders returns r's headers as schema reads them (nil without).
func recordHeaders(r *kgo.Record) []schema.Header {
	if len(r.Headers) == 0 {
		return nil
	}
	hs := make([]schema.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = schema.Header{Key: h.Key, Value: h.Value}
	}
	return hs
}

// invalidRecord copies r to the invalid topic with the reason and source in
// headers, truncating a value too large to copy.
func (d *Dispatcher) invalidRecord(r *kgo.Record, at position, reason string) *kgo.Record {
	out := copyRecord(d.Topics.Invalid(), r, at)
	if len(out.Value) > maxInvalidCopy {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: "hookstream-truncated", Value: []byte(strconv.Itoa(len(r.Value)))})
		out.Value = out.Value[:maxInvalidCopy]
	}
	if len(out.Key) > maxInvalidCopy {
		out.Key = out.Key[:maxInvalidCopy]
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: schema.HeaderError, Value: []byte(reason)})
	if d.Source != nil {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: schema.HeaderSourceID, Value: []byte(d.Source.ID)})
	}
	return out
}

// forwardRecord copies a record of the events topic, as it is, to the bulk
// lane with its position.
func (d *Dispatcher) forwardRecord(r *kgo.Record) *kgo.Record {
	at := position{r.Topic, r.Partition, r.Offset}
	out := copyRecord(d.Topics.EventsBulk(), r, at)
	if len(r.Key) > 0 {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: HeaderRecordKey, Value: r.Key})
	}
	// Keyed by its position, not by its tenant: one tenant's events are
	// spread over the bulk lane's partitions, and so over its readers.
	out.Key = []byte(at.String())
	// The creation time of an event without one.
	out.Timestamp = r.Timestamp
	return out
}

// copyRecord copies r to topic with its key, value and headers, the source
// header (any the publisher set is dropped) naming at.
func copyRecord(topic string, r *kgo.Record, at position) *kgo.Record {
	out := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: make([]kgo.RecordHeader, 0, len(r.Headers)+2)}
	for _, h := range r.Headers {
		if h.Key != schema.HeaderSource && h.Key != HeaderRecordKey {
			out.Headers = append(out.Headers, h)
		}
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: schema.HeaderSource, Value: []byte(at.String())})
	return out
}
