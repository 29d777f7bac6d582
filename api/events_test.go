package api_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schema"
)

type eventView struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
}

func publish(t *testing.T, base, body string, headers ...string) eventView {
	t.Helper()
	r := call(t, "POST", base+"/v1/events", body, headers...)
	var ev eventView
	decodeJSON(t, r, http.StatusAccepted, &ev)
	if loc := r.header.Get("Location"); loc != "" {
		t.Errorf("Location = %q, but there is no route to read an event yet", loc)
	}
	return ev
}

// topicEvents reads the events topic from its start until it holds n records.
func (e *env) topicEvents(t *testing.T, n int) []schema.Event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(e.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "consumer")
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []schema.Event
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d events", len(out), n)
		}
		for _, err := range fs.Errors() {
			t.Fatalf("fetch: %v", err.Err)
		}
		for _, r := range fs.Records() {
			ev, err := schema.DecodeEvent(r.Value)
			testenv.Must(t, err, "decode event record")
			if string(r.Key) != ev.Tenant {
				t.Errorf("record key %q, want the event's tenant %q", r.Key, ev.Tenant)
			}
			out = append(out, ev)
		}
	}
	return out
}

func TestPublishEvent(t *testing.T) {
	base, e := newServer(t)
	const data = "{ \"amount\" : 4200,\n \"note\": \"<b>&</b>\" }"
	ev := publish(t, base, `{"type":"invoice.paid","data":`+data+`,"created_at":"2024-01-02T03:04:05+01:00"}`)
	if !strings.HasPrefix(ev.ID, "evt_") || ev.Tenant != "default" || ev.Type != "invoice.paid" {
		t.Errorf("published = %+v", ev)
	}
	if want := time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC); !ev.CreatedAt.Equal(want) {
		t.Errorf("created_at = %v, want %v", ev.CreatedAt, want)
	}
	got := e.topicEvents(t, 1)[0]
	if got.ID != ev.ID || got.Tenant != "default" || got.Type != "invoice.paid" {
		t.Errorf("topic holds %+v, want %+v", got, ev)
	}
	if string(got.Data) != data {
		t.Errorf("topic data = %q, want byte-identical %q", got.Data, data)
	}
}

func TestPublishEventIdempotencyKey(t *testing.T) {
	base, _ := newServer(t)
	body := `{"type":"invoice.paid","data":{}}`
	first := publish(t, base, body, "Idempotency-Key", "order-42")
	second := publish(t, base, body, "Idempotency-Key", "order-42")
	if first.ID != "order-42" || second.ID != "order-42" {
		t.Errorf("ids = %q, %q; want order-42 twice", first.ID, second.ID)
	}
	same := publish(t, base, `{"id":"order-42","type":"invoice.paid","data":{}}`, "Idempotency-Key", "order-42")
	if same.ID != "order-42" {
		t.Errorf("id = %q, want order-42", same.ID)
	}
	byBody := publish(t, base, `{"id":"order-43","type":"invoice.paid","data":{}}`)
	if byBody.ID != "order-43" {
		t.Errorf("id = %q, want the body's order-43", byBody.ID)
	}
}

func TestPublishEventRejects(t *testing.T) {
	base, _ := newServer(t)
	tests := []struct {
		name    string
		body    string
		headers []string
		status  int
		field   string
	}{
		{"id differs from key", `{"id":"a","type":"x.y","data":{}}`, []string{"Idempotency-Key", "b"}, 422, "id"},
		{"reserved type", `{"type":"hookstream.x","data":{}}`, nil, 422, "type"},
		{"reserved operational type", `{"type":"hookstream.endpoint.disabled","data":{}}`, nil, 422, "type"},
		{"missing type", `{"data":{}}`, nil, 422, "type"},
		{"bad type", `{"type":"a..b","data":{}}`, nil, 422, "type"},
		{"missing data", `{"type":"a"}`, nil, 422, "data"},
		{"null data", `{"type":"a","data":null}`, nil, 422, "data"},
		{"bad id", `{"id":"a\u0001","type":"a","data":{}}`, nil, 422, "id"},
		{"bad key", `{"type":"a","data":{}}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 422, "id"},
		{"invalid data JSON", `{"type":"a","data":{bad}}`, nil, 400, ""},
		{"unknown field", `{"type":"a","data":{},"tenant":"other"}`, nil, 400, "tenant"},
		{"created_at not a time", `{"type":"a","data":{},"created_at":"soon"}`, nil, 400, ""},
		{"empty body", ``, nil, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, call(t, "POST", base+"/v1/events", tt.body, tt.headers...), tt.status, tt.field)
		})
	}
}

type deliveryPage struct {
	Data []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	} `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func TestDeliveries(t *testing.T) {
	base, e := newServer(t)
	ctx := context.Background()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	var batch []schema.Attempt
	for i, id := range []string{"msg_a", "msg_b", "msg_c"} {
		created := at.Add(time.Duration(i) * time.Minute)
		batch = append(batch, schema.Attempt{
			V: schema.Version, DeliveryID: id, EndpointID: "ep_1", Tenant: "default", EventID: "evt_" + id,
			EventType: "invoice.paid", EventCreatedAt: created, Attempt: 1, Outcome: schema.OutcomeSucceeded,
			StatusCode: 200, LatencyMicros: 2500, Sent: true, At: created.Add(time.Second),
		})
	}
	testenv.Must(t, e.db.WriteAttempts(ctx, batch, schema.DisableRule{}, nil), "WriteAttempts")

	var ids []string
	query := "?limit=2"
	for range 10 {
		var page deliveryPage
		decodeJSON(t, call(t, "GET", base+"/v1/deliveries"+query, ""), http.StatusOK, &page)
		for _, d := range page.Data {
			ids = append(ids, d.ID)
		}
		if page.NextCursor == "" {
			break
		}
		query = "?limit=2&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if strings.Join(ids, ",") != "msg_c,msg_b,msg_a" {
		t.Errorf("paged deliveries = %v, want newest first: msg_c, msg_b, msg_a", ids)
	}

	var one struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		History []struct {
			Attempt    int     `json:"attempt"`
			StatusCode int     `json:"status_code"`
			LatencyMS  float64 `json:"latency_ms"`
		} `json:"attempt_history"`
	}
	decodeJSON(t, call(t, "GET", base+"/v1/deliveries/msg_b", ""), http.StatusOK, &one)
	if one.ID != "msg_b" || one.Status != "succeeded" || len(one.History) != 1 ||
		one.History[0].StatusCode != 200 || one.History[0].LatencyMS != 2.5 {
		t.Errorf("delivery = %+v", one)
	}

	var filtered deliveryPage
	decodeJSON(t, call(t, "GET", base+"/v1/deliveries?status=dead", ""), http.StatusOK, &filtered)
	if len(filtered.Data) != 0 {
		t.Errorf("status=dead listed %d deliveries, want 0", len(filtered.Data))
	}
	raw := call(t, "GET", base+"/v1/deliveries?event_id=evt_msg_a", "")
	var byEvent deliveryPage
	decodeJSON(t, raw, http.StatusOK, &byEvent)
	if len(byEvent.Data) != 1 || byEvent.Data[0].ID != "msg_a" {
		t.Errorf("event_id filter = %s", raw.body)
	}
}

func TestDeliveriesRejects(t *testing.T) {
	base, _ := newServer(t)
	tests := []struct {
		name, query string
		field       string
	}{
		{"bogus status", "?status=bogus", "status"},
		{"cursor not base64", "?cursor=!!!", "cursor"},
		{"cursor without id", "?cursor=" + "MjAyNA", "cursor"},
		{"limit 0", "?limit=0", "limit"},
		{"limit 501", "?limit=501", "limit"},
		{"limit abc", "?limit=abc", "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, call(t, "GET", base+"/v1/deliveries"+tt.query, ""), http.StatusBadRequest, tt.field)
		})
	}
	assertProblem(t, call(t, "GET", base+"/v1/deliveries/unknown", ""), http.StatusNotFound, "")
}

// An event whose data fits the limit but whose encoding (with its id,
// tenant, type and created_at) does not is refused for good: 413, never
// 503 with Retry-After, which clients would retry forever. So is one the
// events topic refuses as too large.
func TestPublishEventTooLargeOnceEncoded(t *testing.T) {
	base, e := newServer(t)
	data := `"` + strings.Repeat("x", 1<<20-8) + `"` // 1 MiB of data: the limit
	r := call(t, "POST", base+"/v1/events", `{"type":"invoice.paid","data":`+data+`}`, "Idempotency-Key", "big-1")
	p := assertProblem(t, r, http.StatusRequestEntityTooLarge, "")
	if ra := r.header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After = %q on a request that can never succeed", ra)
	}
	if !strings.Contains(p.Detail, "limit") {
		t.Errorf("detail %q does not name the limit", p.Detail)
	}

	// The broker's limit: a topic whose max.message.bytes is below the
	// producer's own limit.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	testenv.Must(t, err, "admin client")
	defer cl.Close()
	small := testenv.Name("api-small-")
	limit := "4096"
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, map[string]*string{"max.message.bytes": &limit}, small)
	testenv.Must(t, err, "create topic")
	testenv.Must(t, resp.Err, "create topic")
	pub, err := producer.New(e.brokers, producer.WithTopic(small))
	testenv.Must(t, err, "producer")
	t.Cleanup(pub.Close)
	s := &api.Server{Store: e.db, Publisher: pub, Tasks: e.queue, Guard: loopback, AdminToken: token, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	noise := make([]byte, 48<<10) // incompressible: the producer compresses batches
	_, _ = rand.Read(noise)
	r = call(t, "POST", srv.URL+"/v1/events", `{"type":"invoice.paid","data":"`+base64.StdEncoding.EncodeToString(noise)+`"}`)
	assertProblem(t, r, http.StatusRequestEntityTooLarge, "")
	if ra := r.header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After = %q on an event the topic refuses as too large", ra)
	}
}
