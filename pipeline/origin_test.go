package pipeline

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// The origin header of a hookstream.endpoint.disabled event proves who
// published that event, not merely its id: copied onto a record that keeps
// the id but names another tenant, type or data, it is refused, and the
// record goes to the invalid topic like any forgery.
func TestOriginCoversTenantTypeAndData(t *testing.T) {
	ctx := context.Background()
	brokers := testenv.Brokers(t)
	topics := Topics{Prefix: testenv.Name("origin") + "."}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	testenv.Must(t, err, "client")
	t.Cleanup(cl.Close)
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topics.Events())
	testenv.Must(t, err, "create topic")
	testenv.Must(t, resp.Err, "create topic")
	testenv.WaitTopics(t, brokers, topics.Events())

	origin := NewOrigin([]byte("0123456789abcdef0123456789abcdef"))
	log := slog.New(slog.DiscardHandler)
	sink := &Sink{Producer: cl, Topics: topics, Origin: origin, Metrics: NewMetrics(prometheus.NewRegistry()), Log: log}
	testenv.Must(t, sink.announce(ctx, []schema.EndpointChange{{EndpointID: "ep_1", Tenant: "acme", State: schema.EndpointDisabled,
		DisplayURL: "https://example.com/hook", Reason: "410", Failures: 1, At: time.Now(), Cause: "msg_1/3"}}), "announce")

	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Events()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "consumer")
	t.Cleanup(rd.Close)
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	recs := rd.PollRecords(rctx, 1).Records()
	if len(recs) != 1 {
		t.Fatal("the announced event is not in the events topic")
	}
	genuine := recs[0]

	d := &Dispatcher{Origin: origin, MaxEventBytes: 1 << 20, Log: log}
	if _, err := d.decode(genuine, position{}); err != nil {
		t.Fatalf("the genuine event is refused: %v", err)
	}
	var ev map[string]json.RawMessage
	testenv.Must(t, json.Unmarshal(genuine.Value, &ev), "decode event")
	for field, value := range map[string]string{
		"tenant": `"victim"`,
		"type":   `"hookstream.endpoint.enabled"`,
		"data":   `{"endpoint_id":"ep_2","reason":"forged"}`,
	} {
		forged := map[string]json.RawMessage{}
		for k, v := range ev {
			forged[k] = v
		}
		forged[field] = json.RawMessage(value)
		b, err := json.Marshal(forged)
		testenv.Must(t, err, "encode forgery")
		r := &kgo.Record{Topic: genuine.Topic, Key: genuine.Key, Value: b, Headers: genuine.Headers}
		if _, err := d.decode(r, position{}); err == nil {
			t.Errorf("a record with the genuine origin header and another %s is accepted as hookstream's own", field)
		}
	}
}
