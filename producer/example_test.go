package producer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schema"
)

// A service publishes an event once; hookstream delivers it to every
// endpoint subscribed to its type. Here an in-process Kafka stands in for
// the cluster.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, producer.DefaultTopic))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	p, err := producer.New(cluster.ListenAddrs())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ev, err := p.Publish(context.Background(), schema.Event{
		Tenant: "acme",
		Type:   "invoice.paid",
		Data:   json.RawMessage(`{"invoice":"in_123","amount":4200}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Type)
	fmt.Println(strings.HasPrefix(ev.ID, "evt_"), !ev.CreatedAt.IsZero())
	// Output:
	// invoice.paid
	// true true
}
