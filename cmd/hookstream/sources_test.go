package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// createTopics makes topics outside hookstream, as a service that owns
// them would.
func createTopics(t *testing.T, s *system, names ...string) {
	t.Helper()
	resp, err := kadm.NewClient(s.kafka()).CreateTopics(context.Background(), 2, 1, nil, names...)
	testenv.Must(t, err, "create topics")
	for _, r := range resp {
		testenv.Must(t, r.Err, "create topic "+r.Topic)
	}
}

// A source over a topic hookstream does not own, declared while hookstream
// runs: each record is read by the source's rules (the tenant in a header,
// the type and data by JSON pointers, the id from the key) and delivered to
// that tenant's endpoints only; the same key twice is delivered once; a
// CloudEvent on the topic is read by the binding, its tenant from the
// source's rule; records that do not fit go to the invalid topic with the
// reason and the source's id. A second source reads the topics a pattern
// matches.
func TestSourceOverAnExistingTopic(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_SOURCE_REFRESH": "100ms"})
	orders := testenv.Name("orders-")
	pattern := testenv.Name("audit-")
	createTopics(t, s, orders, pattern+"-eu", pattern+"-us")
	for _, tn := range []string{"acme", "globex"} {
		if code, raw := s.call("POST", "/v1/tenants", map[string]any{"id": tn}, nil); code != http.StatusCreated {
			t.Fatalf("create tenant %s: %d %s", tn, code, raw)
		}
	}
	acme, globex := newReceiver(t, nil), newReceiver(t, nil)
	for tn, rc := range map[string]*receiver{"acme": acme, "globex": globex} {
		if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rc.URL, "event_types": []string{"*"}}, nil,
			"X-Hookstream-Tenant", tn); code != http.StatusCreated {
			t.Fatalf("create endpoint of %s: %d %s", tn, code, raw)
		}
	}

	// The API checks a definition before it is saved, and only the admin
	// may declare one.
	def := map[string]any{"id": "orders", "topic": orders,
		"tenant":   map[string]any{"from": "header", "header": "x-tenant"},
		"type":     map[string]any{"from": "pointer", "pointer": "/kind"},
		"event_id": map[string]any{"from": "key"},
		"data":     map[string]any{"from": "pointer", "pointer": "/payload"}}
	var key struct{ Key string }
	s.call("POST", "/v1/tenants/acme/keys", nil, &key)
	if code, _ := s.call("POST", "/v1/sources", def, nil, "Authorization", "Bearer "+key.Key); code != http.StatusForbidden {
		t.Errorf("a tenant's API key declared a source: %d, want 403", code)
	}
	for name, bad := range map[string]map[string]any{
		"type.pointer":  {"topic": orders, "type": map[string]any{"from": "pointer", "pointer": "kind"}},
		"tenant.from":   {"topic": orders, "tenant": map[string]any{"from": "key"}},
		"topic":         {"topic": s.prefix + "events"},
		"topic_pattern": {"topic_pattern": ".*"},
	} {
		var p struct{ Field string }
		code, raw := s.call("POST", "/v1/sources", bad, nil)
		testenv.Must(t, json.Unmarshal(raw, &p), "decode problem")
		if code != http.StatusUnprocessableEntity || p.Field != name {
			t.Errorf("a source with a bad %s: %d %s", name, code, raw)
		}
	}
	var created schema.Source
	if code, raw := s.call("POST", "/v1/sources", def, &created); code != http.StatusCreated || created.ID != "orders" || created.Start != "earliest" {
		t.Fatalf("create source: %d %s", code, raw)
	}
	if code, _ := s.call("POST", "/v1/sources", def, nil); code != http.StatusConflict {
		t.Errorf("the same id again: %d, want 409", code)
	}
	if code, raw := s.call("POST", "/v1/sources", map[string]any{"topic_pattern": pattern + "-.*", "start": "earliest",
		"tenant": map[string]any{"from": "fixed", "value": "globex"}, "type": map[string]any{"from": "fixed", "value": "audit.logged"}}, nil); code != http.StatusCreated {
		t.Fatalf("create the pattern source: %d %s", code, raw)
	}

	// A topic just created may not be known to every broker yet.
	cl := s.kafka(kgo.UnknownTopicRetries(-1), kgo.RecordDeliveryTimeout(30*time.Second))
	ctx := context.Background()
	rec := func(topic, key, value string, kv ...string) *kgo.Record {
		r := &kgo.Record{Topic: topic, Value: []byte(value), Headers: kheaders(kv...)}
		if key != "" {
			r.Key = []byte(key)
		}
		return r
	}
	good := []*kgo.Record{
		rec(orders, "o-1", `{"kind":"order.placed","payload":{"order":"o-1"}}`, "x-tenant", "acme"),
		rec(orders, "o-2", `{"kind":"order.placed","payload":{"order":"o-2"}}`, "x-tenant", "globex"),
		rec(orders, "o-1", `{"kind":"order.placed","payload":{"order":"o-1","again":true}}`, "x-tenant", "acme"),
		rec(orders, "", `{"order":"o-3"}`, "x-tenant", "acme", "ce_specversion", "1.0", "ce_id", "c-3", "ce_source", "/shop",
			"ce_type", "order.shipped", "ce_tenant", "globex"),
		rec(pattern+"-eu", "", `{"entry":"eu"}`),
		rec(pattern+"-us", "", `{"entry":"us"}`),
	}
	bad := map[string]*kgo.Record{
		"tenant: header x-tenant: missing":            rec(orders, "o-4", `{"kind":"order.placed","payload":{}}`),
		"type: pointer /kind: the value is not valid": rec(orders, "o-5", `kind=order.placed`, "x-tenant", "acme"),
		"type: pointer /kind: nothing there":          rec(orders, "o-6", `{"payload":{}}`, "x-tenant", "acme"),
		"id: the record has no key":                   rec(orders, "", `{"kind":"order.placed","payload":{}}`, "x-tenant", "acme"),
	}
	testenv.Must(t, cl.ProduceSync(ctx, good...).FirstErr(), "produce")
	for reason, r := range bad {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "case", Value: []byte(reason)})
		testenv.Must(t, cl.ProduceSync(ctx, r).FirstErr(), "produce")
	}

	acme.waitRequests(t, 2, 30*time.Second)
	globex.waitRequests(t, 3, 30*time.Second)
	inv := readN(t, s, s.prefix+"events.invalid", len(bad))
	// Every record of the topic has been through the dedupe gate (the
	// group committed past them all, tasks in the same transactions), and
	// every delivery made is recorded succeeded: a duplicate would have
	// been sent by now.
	adm := kadm.NewClient(s.kafka())
	group := strings.TrimSuffix(s.prefix, ".") + "-source-orders"
	testenv.Eventually(t, 30*time.Second, func() bool {
		ends, err := adm.ListEndOffsets(ctx, orders)
		if err != nil {
			return false
		}
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := committed.Lookup(orders, o.Partition)
			done = done && ok && c.At == o.Offset
		})
		return done
	}, "the source's group did not commit past every record of %s", orders)
	for _, tn := range []string{"acme", "globex"} {
		testenv.Eventually(t, 30*time.Second, func() bool {
			var page struct{ Data []deliveryView }
			s.call("GET", "/v1/deliveries", nil, &page, "X-Hookstream-Tenant", tn)
			for _, d := range page.Data {
				if d.Status != "succeeded" {
					return false
				}
			}
			return len(page.Data) > 0
		}, "%s's deliveries are not all succeeded", tn)
	}
	bodies := func(rc *receiver) map[string]string {
		out := map[string]string{}
		for _, r := range rc.requests() {
			out[string(r.Body)] = r.Header.Get("X-Webhook-Event-Type")
		}
		return out
	}
	// The CloudEvent goes to the tenant of the source's rule (acme), not
	// to that of its ce_tenant attribute (globex).
	for tn, c := range map[string]struct {
		rc   *receiver
		want map[string]string
	}{
		"acme":   {acme, map[string]string{`{"order":"o-1"}`: "order.placed", `{"order":"o-3"}`: "order.shipped"}},
		"globex": {globex, map[string]string{`{"order":"o-2"}`: "order.placed", `{"entry":"eu"}`: "audit.logged", `{"entry":"us"}`: "audit.logged"}},
	} {
		got := bodies(c.rc)
		if len(got) != len(c.want) || len(c.rc.requests()) != len(c.want) {
			t.Errorf("%s received %d requests %v, want %v once each", tn, len(c.rc.requests()), got, c.want)
			continue
		}
		for b, typ := range c.want {
			if got[b] != typ {
				t.Errorf("%s: %s arrived as %q, want %q", tn, b, got[b], typ)
			}
		}
	}
	if code, raw := s.call("GET", "/v1/events/"+schema.CloudEventID("/shop", "c-3"), nil, nil, "X-Hookstream-Tenant", "acme"); code != http.StatusOK {
		t.Errorf("the CloudEvent is not acme's: %d %s", code, raw)
	}
	for _, r := range inv {
		reason, c := header(r, schema.HeaderError), header(r, "case")
		if !strings.HasPrefix(reason, c) || header(r, schema.HeaderSourceID) != "orders" || !strings.HasPrefix(header(r, schema.HeaderSource), orders+"/") {
			t.Errorf("invalid record %q: reason %q, source %q at %q", c, reason, header(r, schema.HeaderSourceID), header(r, schema.HeaderSource))
		}
	}
	if len(inv) != len(bad) {
		t.Errorf("invalid topic holds %d records, want %d", len(inv), len(bad))
	}

	// Listed, shown, deleted.
	var list struct{ Data []schema.Source }
	if code, _ := s.call("GET", "/v1/sources", nil, &list); code != http.StatusOK || len(list.Data) != 2 {
		t.Errorf("GET /v1/sources: %d %+v", code, list)
	}
	if code, _ := s.call("DELETE", "/v1/sources/orders", nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE: %d", code)
	}
	if code, _ := s.call("GET", "/v1/sources/orders", nil, nil); code != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", code)
	}
	// hookstream stops reading it: its group loses its member, while the
	// pattern source's keeps one.
	members := func(g string) int {
		gs, err := adm.DescribeGroups(ctx, g)
		if err != nil || gs.Error() != nil {
			return -1
		}
		return len(gs[g].Members)
	}
	patternGroup := strings.TrimSuffix(s.prefix, ".") + "-source-" + list.Data[1].ID
	testenv.Eventually(t, 30*time.Second, func() bool { return members(group) == 0 },
		"the deleted source's group still has %d members", members(group))
	if n := members(patternGroup); n != 1 {
		t.Errorf("the pattern source's group has %d members, want 1", n)
	}
}

// Sources declared in HOOKSTREAM_SOURCES (the chart's config.sources) are
// created at start, and replaced under the same id when their definition
// changes: the new rules apply from where the group was, nothing is read
// twice. A bad definition stops the start with the reason.
func TestSourcesFromConfig(t *testing.T) {
	topic := testenv.Name("cfg-")
	def := func(typ string) string {
		return `[{"id":"cfg","topic":"` + topic + `","tenant":{"from":"fixed","value":"default"},"type":{"from":"fixed","value":"` + typ + `"}}]`
	}
	s := startSystem(t, map[string]string{"HOOKSTREAM_SOURCE_REFRESH": "100ms", "HOOKSTREAM_SOURCES": def("cfg.first")})
	createTopics(t, s, topic)
	rcv := newReceiver(t, nil)
	s.endpoint(rcv.URL, "cfg.*")
	cl := s.kafka(kgo.UnknownTopicRetries(-1), kgo.RecordDeliveryTimeout(30*time.Second))
	ctx := context.Background()
	testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(`{"n":1}`)}).FirstErr(), "produce")
	rcv.waitRequests(t, 1, 30*time.Second)

	s.cfg.Sources = def("cfg.second")
	s.restart()
	var got schema.Source
	if code, raw := s.call("GET", "/v1/sources/cfg", nil, &got); code != http.StatusOK || got.Type == nil || got.Type.Value != "cfg.second" {
		t.Fatalf("the source after a changed definition: %d %s", code, raw)
	}
	testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(`{"n":2}`)}).FirstErr(), "produce")
	reqs := rcv.waitRequests(t, 2, 30*time.Second)
	if len(reqs) != 2 || reqs[0].Header.Get("X-Webhook-Event-Type") != "cfg.first" || reqs[1].Header.Get("X-Webhook-Event-Type") != "cfg.second" ||
		string(reqs[1].Body) != `{"n":2}` {
		for _, r := range reqs {
			t.Logf("%s %s", r.Header.Get("X-Webhook-Event-Type"), r.Body)
		}
		t.Errorf("want n=1 as cfg.first, then n=2 as cfg.second, each once")
	}

	for _, bad := range []string{`{"id":"x"}`, `[{"topic":"a","start":"earliest"}]`, `[{"id":"x","topic":"a","tenant":{"from":"key"}}]`, `[{"id":"x","topic":"a","extra":1}]`} {
		c := s.cfg
		c.Sources = bad
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "HOOKSTREAM_SOURCES") {
			t.Errorf("HOOKSTREAM_SOURCES=%s: %v, want a config error", bad, err)
		}
	}
}

// A source's ordering_key rule gives its events their ordering key (here a
// JSON pointer to the account, whatever the record key): an ordered
// endpoint gets each account's events in order, each with its key.
func TestSourceRuleSetsTheOrderingKey(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_SOURCE_REFRESH": "100ms"})
	topic := testenv.Name("ledger-")
	createTopics(t, s, topic)
	checker := newOrderChecker()
	rcv := newReceiver(t, func(_ int, r *http.Request) int { checker.accept(r); return http.StatusOK })
	if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"*"}, "ordering": "key"}, nil); code != http.StatusCreated {
		t.Fatalf("create ordered endpoint: %d %s", code, raw)
	}
	var created schema.Source
	if code, raw := s.call("POST", "/v1/sources", map[string]any{"topic": topic,
		"tenant":       map[string]any{"from": "fixed", "value": "default"},
		"type":         map[string]any{"from": "fixed", "value": "ledger.entry"},
		"ordering_key": map[string]any{"from": "pointer", "pointer": "/account"}}, &created); code != http.StatusCreated ||
		created.OrderingKey == nil || created.OrderingKey.Pointer != "/account" {
		t.Fatalf("create source with an ordering key rule: %d %s", code, raw)
	}
	cl := s.kafka(kgo.UnknownTopicRetries(-1), kgo.RecordDeliveryTimeout(30*time.Second))
	var recs []*kgo.Record
	const perAccount = 5
	for i := range perAccount {
		for _, acct := range []string{"acct-1", "acct-2"} {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("shard-" + acct + "-" + string(rune('a'+i))),
				Value: []byte(`{"account":"` + acct + `","i":` + string(rune('0'+i)) + `}`)})
		}
	}
	testenv.Must(t, cl.ProduceSync(context.Background(), recs...).FirstErr(), "produce")
	rcv.waitRequests(t, len(recs), 60*time.Second)
	checker.mu.Lock()
	defer checker.mu.Unlock()
	if len(checker.violations) > 0 || checker.headerless > 0 || len(checker.accepted) != 2 ||
		len(checker.accepted["acct-1"]) != perAccount || len(checker.accepted["acct-2"]) != perAccount {
		t.Fatalf("accepted %v (violations %v, %d without headers), want %d of each account, keyed by account",
			checker.accepted, checker.violations, checker.headerless, perAccount)
	}
}
