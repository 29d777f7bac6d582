package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/schema"
)

// QuarantineIndex is what the quarantine indexer writes to; see
// postgres.DB.IndexQuarantined.
type QuarantineIndex interface {
	IndexQuarantined(ctx context.Context, recs []schema.Quarantined) error
}

// QuarantineIndexer records the quarantine topic's records in the store,
// where the API lists them and re-drives them. It runs with the sink role,
// as a sink of its own (group "<prefix>-quarantine"). Nothing a record
// holds can make its write fail: texts are cleaned, bytes stored as
// bytes.
type QuarantineIndexer struct {
	DB QuarantineIndex
}

// Store is the indexer's consumer.SinkFunc.
func (x *QuarantineIndexer) Store(ctx context.Context, recs []*kgo.Record) error {
	batch := make([]schema.Quarantined, 0, len(recs))
	for _, r := range recs {
		batch = append(batch, DecodeQuarantined(r))
	}
	if err := x.DB.IndexQuarantined(ctx, batch); err != nil {
		return fmt.Errorf("quarantine index: %w", err)
	}
	return nil
}

// DecodeQuarantined reads a record of the quarantine topic. A record that
// lacks the quarantine headers (written there by someone else) is kept
// with what it has: its own position as the source, no stage.
func DecodeQuarantined(r *kgo.Record) schema.Quarantined {
	q := schema.Quarantined{
		Partition: r.Partition, Offset: r.Offset, At: r.Timestamp.UTC(),
		Key: r.Key, Value: r.Value,
		Topic: r.Topic, SourcePartition: r.Partition, SourceOffset: r.Offset,
	}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case consumer.HeaderQuarantineStage:
			q.Stage = v
		case consumer.HeaderQuarantineReason:
			q.Reason = v
		case consumer.HeaderQuarantineTopic:
			q.Topic = v
		case consumer.HeaderQuarantinePartition:
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				q.SourcePartition = int32(p)
			}
		case consumer.HeaderQuarantineOffset:
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				q.SourceOffset = o
			}
		case consumer.HeaderQuarantineAt:
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				q.At = time.UnixMilli(ms).UTC()
			}
		default:
			q.Headers = append(q.Headers, schema.Header{Key: schema.CleanText(h.Key), Value: h.Value})
		}
	}
	q.Stage, q.Reason, q.Topic = schema.CleanText(q.Stage), schema.CleanText(q.Reason), schema.CleanText(q.Topic)
	return q
}

// Redriver puts quarantined records back where they came from.
type Redriver struct {
	Client *kgo.Client
	Topics Topics
}

// Redrive produces the record to its original topic, with its key, value
// and own headers, and returns once the broker has it. A retry task's due
// time has passed by then: it is due at once.
func (d *Redriver) Redrive(ctx context.Context, q schema.Quarantined) error {
	if !slices.Contains(d.inputs(), q.Topic) {
		return schema.ErrNotRedrivable
	}
	r := &kgo.Record{Topic: q.Topic, Key: q.Key, Value: q.Value}
	for _, h := range q.Headers { // the record's own: DecodeQuarantined left ours out
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	if err := d.Client.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("redrive to %s: %w", q.Topic, err)
	}
	return nil
}

// inputs are the topics the stages read.
func (d *Redriver) inputs() []string {
	in := []string{d.Topics.Events(), d.Topics.EventsBulk(), d.Topics.Deliveries(), d.Topics.Bulk(), d.Topics.Released(), d.Topics.Attempts()}
	for i := range d.Topics.Schedule {
		in = append(in, d.Topics.Retry(i))
	}
	return in
}
