package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// Events forwarded to the bulk lane are claimed at the position they were
// published at: an event without an id gets the id its own record gives it
// (whatever source header its publisher forged), and an event published
// twice is delivered once whichever lane claims it first, across a restart
// too.
func TestBulkLaneClaimsEventsWhereTheyWerePublished(t *testing.T) {
	// One token, refilled once a day: a tenant's first event takes the fast
	// lane, every later one is forwarded.
	env := map[string]string{"HOOKSTREAM_TENANT_FAST_LANE_RATE": "0.00001", "HOOKSTREAM_TENANT_FAST_LANE_BURST": "1"}
	s := startSystem(t, env)
	rcv := newReceiver(t, nil)
	s.endpoint(rcv.URL, "lane.*")
	cl := s.kafka()
	ctx := context.Background()
	produce := func(what string, r *kgo.Record) *kgo.Record {
		t.Helper()
		r.Topic = s.prefix + "events"
		res := cl.ProduceSync(ctx, r)
		testenv.Must(t, res.FirstErr(), "produce "+what)
		return res[0].Record
	}
	event := func(id string) []byte {
		return schema.EncodeEvent(schema.Event{ID: id, Tenant: "default", Type: "lane.x", Data: []byte(`{}`), CreatedAt: time.Now()})
	}
	byEvent := func() map[string]int {
		n := map[string]int{}
		for _, r := range rcv.requests() {
			n[r.Header.Get(delivery.HeaderXEventID)]++
		}
		return n
	}

	// Fast lane first, then the bulk lane: "fast" takes the token.
	produce("the first event", &kgo.Record{Key: []byte("default"), Value: event("fast")})
	produce("it again", &kgo.Record{Key: []byte("default"), Value: event("fast")})
	noID := produce("an event without id", &kgo.Record{Key: []byte("default"),
		Value:   []byte(`{"tenant":"default","type":"lane.x","data":{}}`),
		Headers: []kgo.RecordHeader{{Key: schema.HeaderSource, Value: []byte(s.prefix + "events/0/0")}}})
	produce("an event for the bulk lane", &kgo.Record{Key: []byte("default"), Value: event("bulk")})
	rcv.waitRequests(t, 3, 30*time.Second)
	derived := schema.DerivedEventID(s.prefix+"events", noID.Partition, noID.Offset)
	testenv.Eventually(t, 30*time.Second, func() bool { return metricSum(t, s, "hookstream_events_bulk_total") >= 3 },
		"hookstream_events_bulk_total = %v, want 3", metricSum(t, s, "hookstream_events_bulk_total"))
	testenv.Eventually(t, 30*time.Second, func() bool { return metricSum(t, s, "hookstream_events_duplicate_total") >= 1 },
		"the second \"fast\" was not counted a duplicate")

	// The bulk lane first, then the fast lane: after a restart the bucket
	// is full again, and "bulk" takes the token.
	s.restart()
	produce("the bulk lane's event again", &kgo.Record{Key: []byte("default"), Value: event("bulk")})
	produce("a last event", &kgo.Record{Key: []byte("default"), Value: event("last")})
	rcv.waitRequests(t, 4, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, func() bool { return metricSum(t, s, "hookstream_events_duplicate_total") >= 1 },
		"the second \"bulk\" was not counted a duplicate after the restart")
	// "last" was forwarded after "bulk" was read: "bulk" was handled.
	want := map[string]int{"fast": 1, "bulk": 1, derived: 1, "last": 1}
	got := byEvent()
	for id, n := range want {
		if got[id] != n {
			t.Errorf("event %s delivered %d times, want %d (all: %v)", id, got[id], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("events delivered: %v, want %v", got, want)
	}
	if code, _ := s.call("GET", "/v1/events/"+derived, nil, nil); code != http.StatusOK {
		t.Errorf("GET /v1/events/%s = %d: the event without id was not stored under the id its record gives it", derived, code)
	}
}

// Each instance runs HOOKSTREAM_DISPATCH_SESSIONS members of the dispatch
// groups, each reading partitions of its own: a backlog in one partition
// is in one session's transactions only.
func TestDispatchSessionsSplitThePartitions(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_DISPATCH_SESSIONS": "3"})
	adm := kadm.NewClient(s.kafka())
	ctx := context.Background()
	for _, g := range []string{"dispatch", "dispatch-bulk"} {
		group := strings.TrimSuffix(s.prefix, ".") + "-" + g
		var last strings.Builder // what the group looked like at the last try
		testenv.Eventually(t, 30*time.Second, func() bool {
			described, err := adm.DescribeGroups(ctx, group)
			last.Reset()
			if err != nil {
				last.WriteString(err.Error())
				return false
			}
			d := described[group]
			owners := map[int32]int{}
			busy := 0
			for _, m := range d.Members {
				c, ok := m.Assigned.AsConsumer()
				if !ok {
					continue
				}
				n := 0
				for _, tp := range c.Topics {
					for _, p := range tp.Partitions {
						owners[p]++
						n++
					}
				}
				if n > 0 {
					busy++
				}
			}
			fmt.Fprintf(&last, "%d members (%d with partitions), partition owners %v", len(d.Members), busy, owners)
			// Three partitions (startSystem), three sessions: one each.
			return len(d.Members) == 3 && busy == 3 && len(owners) == 3 && owners[0] == 1 && owners[1] == 1 && owners[2] == 1
		}, "group %s: %s, want 3 members with one partition each", group, &last)
	}
}
