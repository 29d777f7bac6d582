package producer_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schema"
)

// newTopic creates a one-partition topic of its own for the test.
func newTopic(t *testing.T, brokers []string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	testenv.Must(t, err, "admin client")
	defer cl.Close()
	topic := testenv.Name("producer-test-")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	testenv.Must(t, err, "create topic")
	testenv.Must(t, resp.Err, "create topic")
	testenv.WaitTopics(t, brokers, topic)
	return topic
}

// readRecords consumes the topic from its start until it has n records.
func readRecords(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "consumer")
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(out), n, topic)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func newClient(t *testing.T, brokers []string, opts ...producer.Option) *producer.Client {
	t.Helper()
	p, err := producer.New(brokers, opts...)
	testenv.Must(t, err, "producer.New")
	t.Cleanup(p.Close)
	return p
}

func TestPublishFillsIDAndTime(t *testing.T) {
	brokers := testenv.Brokers(t)
	topic := newTopic(t, brokers)
	p := newClient(t, brokers, producer.WithTopic(topic))
	ctx := context.Background()

	ev, err := p.Publish(ctx, schema.Event{Tenant: "acme", Type: "invoice.paid", Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if !strings.HasPrefix(ev.ID, "evt_") {
		t.Errorf("id = %q, want a generated evt_ id", ev.ID)
	}
	if ev.CreatedAt.IsZero() || ev.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at = %v, want a UTC time", ev.CreatedAt)
	}

	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	kept, err := p.Publish(ctx, schema.Event{ID: "order-42", Tenant: "acme", Type: "a", Data: json.RawMessage(`1`), CreatedAt: at})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if kept.ID != "order-42" || !kept.CreatedAt.Equal(at) {
		t.Errorf("Publish changed a given id or time: %q %v", kept.ID, kept.CreatedAt)
	}
}

func TestPublishRefusesBadEventsWithoutSending(t *testing.T) {
	brokers := testenv.Brokers(t)
	topic := newTopic(t, brokers)
	p := newClient(t, brokers, producer.WithTopic(topic), producer.WithMaxBytes(512))
	ctx := context.Background()

	refused := []struct {
		name string
		ev   schema.Event
		want error
	}{
		{"no tenant", schema.Event{Type: "a", Data: json.RawMessage(`{}`)}, schema.ErrInvalidEvent},
		{"bad type", schema.Event{Tenant: "acme", Type: "a..b", Data: json.RawMessage(`{}`)}, schema.ErrInvalidEvent},
		{"null data", schema.Event{Tenant: "acme", Type: "a", Data: json.RawMessage(`null`)}, schema.ErrInvalidEvent},
		{"too large", schema.Event{Tenant: "acme", Type: "a", Data: json.RawMessage(`"` + strings.Repeat("x", 600) + `"`)}, producer.ErrTooLarge},
	}
	for _, tt := range refused {
		_, err := p.Publish(ctx, tt.ev)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Publish = %v, want %v", tt.name, err, tt.want)
		}
	}

	// The first record on the topic is the valid event published after the
	// refused ones: none of them was sent.
	data := "{ \"html\": \"<b>&</b>\",\n  \"esc\": \"\\u00e9\", \"raw\": \"é\" }"
	want, err := p.Publish(ctx, schema.Event{Tenant: "acme", Type: "invoice.paid", Data: json.RawMessage(data)})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	recs := readRecords(t, brokers, topic, 1)
	r := recs[0]
	if string(r.Key) != want.Tenant {
		t.Errorf("first record key = %q, want the valid event's tenant %q", r.Key, want.Tenant)
	}
	got, err := schema.DecodeEvent(r.Value)
	if err != nil {
		t.Fatalf("DecodeEvent(record): %v", err)
	}
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Type != want.Type || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("record = %+v, want %+v", got, want)
	}
	if string(got.Data) != data {
		t.Errorf("record data = %q, want byte-identical %q", got.Data, data)
	}
}

func TestPrepare(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	ev := schema.Event{Tenant: "acme", Type: "a", Data: json.RawMessage(`{}`)}
	if err := producer.Prepare(&ev, now); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if ev.ID == "" || !ev.CreatedAt.Equal(now) || ev.CreatedAt.Location() != time.UTC {
		t.Errorf("Prepare = id %q created_at %v, want an id and %v in UTC", ev.ID, ev.CreatedAt, now)
	}
	bad := schema.Event{Tenant: "acme", Data: json.RawMessage(`{}`)}
	if err := producer.Prepare(&bad, now); !errors.Is(err, schema.ErrInvalidEvent) {
		t.Errorf("Prepare(no type) = %v, want ErrInvalidEvent", err)
	}
}

// An event the broker refuses as too large for the topic (its
// max.message.bytes is below the client's limit) is ErrTooLarge too: as
// final as the client's own check, not an outage to retry.
func TestPublishTooLargeForTheTopic(t *testing.T) {
	brokers := testenv.Brokers(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	testenv.Must(t, err, "admin client")
	defer cl.Close()
	topic := testenv.Name("producer-small-")
	limit := "4096"
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, map[string]*string{"max.message.bytes": &limit}, topic)
	testenv.Must(t, err, "create topic")
	testenv.Must(t, resp.Err, "create topic")
	testenv.WaitTopics(t, brokers, topic)
	p := newClient(t, brokers, producer.WithTopic(topic))

	noise := make([]byte, 48<<10) // incompressible: batches are compressed
	_, _ = rand.Read(noise)
	_, err = p.Publish(context.Background(), schema.Event{Tenant: "acme", Type: "a",
		Data: json.RawMessage(`"` + base64.StdEncoding.EncodeToString(noise) + `"`)})
	if !errors.Is(err, producer.ErrTooLarge) {
		t.Errorf("Publish = %v, want ErrTooLarge", err)
	}
}
