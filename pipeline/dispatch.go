package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/quota"
	"github.com/hookstream/hookstream/schema"
)

// ClaimGate is the dedupe gate: see postgres.DB.ClaimEvents.
type ClaimGate interface {
	ClaimEvents(ctx context.Context, claims []schema.Claim) ([]bool, error)
}

// Matcher returns the ids of the endpoints subscribed to an event.
type Matcher interface {
	Match(tenant, eventType string) []string
}

// Dispatcher turns events into one delivery task per subscribed endpoint.
type Dispatcher struct {
	Topics        Topics
	Gate          ClaimGate
	Routes        Matcher
	Origin        Origin
	MaxEventBytes int
	// MaxFanout bounds the endpoints one event may reach (0: no bound);
	// an event matching more goes to the invalid topic.
	MaxFanout int
	// MaxBatchTasks bounds the tasks of one transaction (default
	// DefaultMaxBatchTasks); one event's fan-out is never split.
	MaxBatchTasks int
	// Lanes is each tenant's share of the fast lane, in tasks: an event
	// whose tasks do not fit in its tenant's bucket goes to the bulk lane
	// (Topics.Bulk). Nil puts every task in the fast lane.
	Lanes   *quota.Buckets
	Metrics *Metrics
	Log     *slog.Logger
}

// maxInvalidCopy bounds the copy of an oversized record kept in the invalid
// topic, so that the copy itself always fits.
const maxInvalidCopy = 64 << 10

// DefaultMaxBatchTasks bounds the tasks of one transaction when
// Dispatcher.MaxBatchTasks is 0.
const DefaultMaxBatchTasks = 20000

// Transform is the dispatcher's consumer.TransformFunc. Records that are not
// valid events go to the invalid topic with the reason (an event matching
// more than MaxFanout endpoints too); valid events pass the dedupe gate,
// and those due for fan-out become tasks keyed by endpoint id. Tasks and
// offsets commit together. A batch that would make more than MaxBatchTasks
// tasks is split (consumer.ErrSplit) before anything is claimed, so that
// a huge fan-out never holds one transaction near its timeout.
func (d *Dispatcher) Transform(ctx context.Context, recs []*kgo.Record, emit consumer.Emit) error {
	type bad struct {
		r      *kgo.Record
		reason string
	}
	var (
		invalid []bad
		claims  = make([]schema.Claim, 0, len(recs))
		targets = make([][]string, 0, len(recs))
		tasks   int
	)
	for _, r := range recs {
		ev, err := d.decode(r)
		var ids []string
		if err == nil {
			ids = d.Routes.Match(ev.Tenant, ev.Type)
			err = schema.CheckFanout(len(ids), d.MaxFanout)
		}
		if err != nil {
			invalid = append(invalid, bad{r, err.Error()})
			continue
		}
		claims = append(claims, schema.Claim{Event: ev, Partition: r.Partition, Offset: r.Offset})
		targets = append(targets, ids)
		tasks += len(ids)
	}
	maxTasks := d.MaxBatchTasks
	if maxTasks <= 0 {
		maxTasks = DefaultMaxBatchTasks
	}
	if tasks > maxTasks && len(recs) > 1 {
		return fmt.Errorf("dispatch: %d tasks for %d events: %w", tasks, len(recs), consumer.ErrSplit)
	}
	for _, b := range invalid {
		d.Log.Info("invalid event", "partition", b.r.Partition, "offset", b.r.Offset, "reason", b.reason)
		emit(d.invalidRecord(b.r, b.reason))
	}
	// Counted once the batch commits: not again when it is read again.
	var events, duplicates, made, bulk int
	defer consumer.OnCommit(ctx, func() {
		d.Metrics.invalid.Add(float64(len(invalid)))
		d.Metrics.events.Add(float64(events))
		d.Metrics.duplicates.Add(float64(duplicates))
		d.Metrics.tasks.Add(float64(made))
		d.Metrics.bulk.Add(float64(bulk))
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
	for i, c := range claims {
		if !fresh[i] {
			duplicates++
			continue
		}
		events++
		if len(targets[i]) == 0 {
			continue
		}
		lane := d.Topics.Deliveries()
		if d.Lanes != nil {
			if _, ok := d.Lanes.Take(c.Event.Tenant, len(targets[i])); !ok {
				lane = d.Topics.Bulk()
				bulk += len(targets[i])
			}
		}
		for _, id := range targets[i] {
			b := schema.EncodeTask(schema.NewTask(c.Event, id))
			emit(&kgo.Record{Topic: lane, Key: []byte(id), Value: b})
			made++
		}
	}
	return nil
}

// decode validates a record and fills in a missing id (derived from the
// record's position, so a re-read gives the same id) and creation time.
func (d *Dispatcher) decode(r *kgo.Record) (schema.Event, error) {
	if d.MaxEventBytes > 0 && len(r.Value) > d.MaxEventBytes {
		return schema.Event{}, fmt.Errorf("value: %d bytes exceeds the limit of %d", len(r.Value), d.MaxEventBytes)
	}
	ev, err := schema.DecodeEvent(r.Value)
	if err != nil {
		return ev, err
	}
	if strings.HasPrefix(ev.Type, schema.ReservedTypePrefix) && !d.Origin.Verify(r, ev) {
		return ev, fmt.Errorf("type: the %q namespace is reserved for hookstream's own events", schema.ReservedTypePrefix)
	}
	if ev.ID == "" {
		ev.ID = schema.DerivedEventID(r.Topic, r.Partition, r.Offset)
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = r.Timestamp.UTC()
	}
	return ev, nil
}

// invalidRecord copies r to the invalid topic with the reason and source in
// headers, truncating a value too large to copy.
func (d *Dispatcher) invalidRecord(r *kgo.Record, reason string) *kgo.Record {
	out := &kgo.Record{Topic: d.Topics.Invalid(), Key: r.Key, Value: r.Value}
	out.Headers = append(out.Headers, r.Headers...)
	if len(out.Value) > maxInvalidCopy {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: "hookstream-truncated", Value: []byte(strconv.Itoa(len(r.Value)))})
		out.Value = out.Value[:maxInvalidCopy]
	}
	if len(out.Key) > maxInvalidCopy {
		out.Key = out.Key[:maxInvalidCopy]
	}
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: schema.HeaderError, Value: []byte(reason)},
		kgo.RecordHeader{Key: schema.HeaderSource, Value: []byte(source(r))},
	)
	return out
}

func source(r *kgo.Record) string {
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
}
