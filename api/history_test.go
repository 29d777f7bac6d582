package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

var offsets int64

// seedEvent records an event as the dispatcher's dedupe gate would.
func (e *env) seedEvent(t *testing.T, tenant, id, typ string, at time.Time) schema.Event {
	t.Helper()
	ev := schema.Event{ID: id, Tenant: tenant, Type: typ, Data: json.RawMessage(`{"n":"` + id + `"}`), CreatedAt: at}
	offsets++
	_, err := e.db.ClaimEvents(context.Background(), []schema.Claim{{Event: ev, Partition: 0, Offset: offsets}})
	testenv.Must(t, err, "ClaimEvents")
	return ev
}

// seedDelivery records attempts 1..n of the delivery of ev to endpointID,
// the last with outcome.
func (e *env) seedDelivery(t *testing.T, ev schema.Event, endpointID string, n int, outcome schema.Outcome) string {
	t.Helper()
	id := schema.DeliveryID(ev.Tenant, ev.ID, endpointID)
	var batch []schema.Attempt
	for i := 1; i <= n; i++ {
		o := schema.OutcomeRetrying
		if i == n {
			o = outcome
		}
		batch = append(batch, schema.Attempt{V: schema.Version, DeliveryID: id, EndpointID: endpointID, Tenant: ev.Tenant,
			EventID: ev.ID, EventType: ev.Type, EventCreatedAt: ev.CreatedAt, Attempt: i, Outcome: o, StatusCode: 503,
			Sent: true, At: ev.CreatedAt.Add(time.Duration(i) * time.Second)})
	}
	testenv.Must(t, e.db.WriteAttempts(context.Background(), batch, schema.DisableRule{}, nil), "WriteAttempts")
	return id
}

// tasks reads n tasks from the deliveries topic.
func (e *env) tasks(t *testing.T, n int) []schema.Task {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(e.queue.Topics.Deliveries()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "consumer")
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []schema.Task
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d tasks", len(out), n)
		}
		for _, r := range fs.Records() {
			task, err := schema.DecodeTask(r.Value)
			testenv.Must(t, err, "decode task")
			out = append(out, task)
		}
	}
	return out
}

type storedEventView struct {
	ID         string          `json:"id"`
	Tenant     string          `json:"tenant"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"data"`
	CreatedAt  time.Time       `json:"created_at"`
	ReceivedAt time.Time       `json:"received_at"`
}

func TestEvents(t *testing.T) {
	base, e := newServer(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, typ := range []string{"a.one", "a.two", "a.one", "b.one"} {
		e.seedEvent(t, "default", "evt_"+string(rune('a'+i)), typ, at.Add(time.Duration(i)*time.Hour))
	}
	acme := tenantWithKey(t, base, "acme")
	e.seedEvent(t, "acme", "evt_acme", "a.one", at)

	var one storedEventView
	decodeJSON(t, call(t, "GET", base+"/v1/events/evt_b", ""), http.StatusOK, &one)
	if one.ID != "evt_b" || one.Type != "a.two" || string(one.Data) != `{"n":"evt_b"}` || !one.CreatedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("event = %+v", one)
	}
	assertProblem(t, call(t, "GET", base+"/v1/events/evt_acme", ""), http.StatusNotFound, "")
	decodeJSON(t, callAuth(t, "Bearer "+acme, "GET", base+"/v1/events/evt_acme", ""), http.StatusOK, &one)

	list := func(query string) ([]string, string) {
		t.Helper()
		var page struct {
			Data       []storedEventView `json:"data"`
			NextCursor string            `json:"next_cursor"`
		}
		decodeJSON(t, call(t, "GET", base+"/v1/events"+query, ""), http.StatusOK, &page)
		var ids []string
		for _, ev := range page.Data {
			ids = append(ids, ev.ID)
		}
		return ids, page.NextCursor
	}
	var all []string
	q := "?limit=3"
	for range 5 {
		ids, next := list(q)
		all = append(all, ids...)
		if next == "" {
			break
		}
		q = "?limit=3&cursor=" + url.QueryEscape(next)
	}
	if strings.Join(all, ",") != "evt_d,evt_c,evt_b,evt_a" {
		t.Errorf("events = %v, want newest first", all)
	}
	if ids, _ := list("?type=a.one"); strings.Join(ids, ",") != "evt_c,evt_a" {
		t.Errorf("type=a.one: %v", ids)
	}
	since, until := at.Add(time.Hour).Format(time.RFC3339), at.Add(3*time.Hour).Format(time.RFC3339)
	if ids, _ := list("?since=" + since + "&until=" + until); strings.Join(ids, ",") != "evt_c,evt_b" {
		t.Errorf("since/until: %v", ids)
	}
	for _, bad := range []struct{ query, field string }{
		{"?since=yesterday", "since"}, {"?until=1", "until"}, {"?type=a..b", "type"}, {"?cursor=!", "cursor"}, {"?limit=0", "limit"},
	} {
		assertProblem(t, call(t, "GET", base+"/v1/events"+bad.query, ""), http.StatusBadRequest, bad.field)
	}
}

// A page of events is bounded in bytes as well as in count: events of 1 MiB
// come a few per page, each page with a cursor to the next, and every event
// is listed once.
func TestEventPagesAreBoundedInBytes(t *testing.T) {
	base, e := newServer(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 12
	big := json.RawMessage(`"` + strings.Repeat("x", 1<<20-16) + `"`)
	for i := range n {
		offsets++
		ev := schema.Event{ID: fmt.Sprintf("evt_%02d", i), Tenant: "default", Type: "a.b", Data: big, CreatedAt: at.Add(time.Duration(i) * time.Minute)}
		_, err := e.db.ClaimEvents(context.Background(), []schema.Claim{{Event: ev, Partition: 0, Offset: offsets}})
		testenv.Must(t, err, "ClaimEvents")
	}
	seen := map[string]bool{}
	q := "?limit=500"
	for pages := 0; ; pages++ {
		if pages == n {
			t.Fatalf("%d pages and not at the end", pages)
		}
		r := call(t, "GET", base+"/v1/events"+q, "")
		if len(r.body) > 6<<20 {
			t.Errorf("a page of %d bytes: want at most a few MiB", len(r.body))
		}
		var page struct {
			Data       []storedEventView `json:"data"`
			NextCursor string            `json:"next_cursor"`
		}
		decodeJSON(t, r, http.StatusOK, &page)
		if len(page.Data) == 0 {
			t.Fatalf("an empty page (cursor %q)", page.NextCursor)
		}
		for _, ev := range page.Data {
			if seen[ev.ID] || len(ev.Data) != len(big) {
				t.Errorf("event %s listed twice or without its data", ev.ID)
			}
			seen[ev.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		q = "?limit=500&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if len(seen) != n {
		t.Errorf("listed %d events, want %d", len(seen), n)
	}
}

func TestDeliveriesByTime(t *testing.T) {
	base, e := newServer(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		ev := e.seedEvent(t, "default", "evt_"+string(rune('a'+i)), "a.b", at.Add(time.Duration(i)*time.Hour))
		e.seedDelivery(t, ev, "ep_1", 1, schema.OutcomeSucceeded)
	}
	var page deliveryPage
	decodeJSON(t, call(t, "GET", base+"/v1/deliveries?since="+at.Add(time.Hour).Format(time.RFC3339)+"&until="+
		url.QueryEscape(at.Add(90*time.Minute).Format(time.RFC3339)), ""), http.StatusOK, &page)
	if len(page.Data) != 1 || page.Data[0].ID != schema.DeliveryID("default", "evt_b", "ep_1") {
		t.Errorf("since/until = %+v, want evt_b's delivery only", page.Data)
	}
	assertProblem(t, call(t, "GET", base+"/v1/deliveries?since=x", ""), http.StatusBadRequest, "since")
}

func TestRetryDelivery(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	ev := e.seedEvent(t, "default", "evt_1", "a.b", time.Now().Add(-time.Hour))
	id := e.seedDelivery(t, ev, ep.ID, 3, schema.OutcomeDead)

	r := call(t, "POST", base+"/v1/deliveries/"+id+"/retry", "")
	var d struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	}
	decodeJSON(t, r, http.StatusAccepted, &d)
	if d.ID != id || d.Status != "retrying" || d.Attempts != 3 {
		t.Errorf("retry answered %+v", d)
	}
	task := e.tasks(t, 1)[0]
	if task.DeliveryID != id || task.Attempt != 4 || task.EndpointID != ep.ID || task.Tier != 0 ||
		task.Event.ID != "evt_1" || string(task.Event.Data) != `{"n":"evt_1"}` || task.EndpointVersion.IsZero() {
		t.Errorf("queued task = %+v, want attempt 4 of %s", task, id)
	}

	assertProblem(t, call(t, "POST", base+"/v1/deliveries/msg_nope/retry", ""), http.StatusNotFound, "")
	other := tenantWithKey(t, base, "acme")
	assertProblem(t, callAuth(t, "Bearer "+other, "POST", base+"/v1/deliveries/"+id+"/retry", ""), http.StatusNotFound, "")
	// A delivery whose endpoint is gone, or whose event is gone, cannot be sent.
	gone := e.seedDelivery(t, ev, "ep_deleted", 1, schema.OutcomeDead)
	assertProblem(t, call(t, "POST", base+"/v1/deliveries/"+gone+"/retry", ""), http.StatusConflict, "")
	noEvent := e.seedDelivery(t, schema.Event{ID: "evt_pruned", Tenant: "default", Type: "a.b", CreatedAt: time.Now()}, ep.ID, 1, schema.OutcomeDead)
	assertProblem(t, call(t, "POST", base+"/v1/deliveries/"+noEvent+"/retry", ""), http.StatusConflict, "")
}

type jobView struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Failed     int        `json:"failed"`
	Skipped    int        `json:"skipped"`
	FinishedAt *time.Time `json:"finished_at"`
}

func TestRecoverEndpoint(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	start := time.Now().Add(-time.Hour)
	want := map[string]bool{}
	for i, o := range []schema.Outcome{schema.OutcomeDead, schema.OutcomeRetrying, schema.OutcomeSucceeded, schema.OutcomeParked, schema.OutcomeDead} {
		ev := e.seedEvent(t, "default", "evt_"+string(rune('a'+i)), "a.b", start.Add(time.Duration(i)*time.Minute))
		id := e.seedDelivery(t, ev, ep.ID, 2, o)
		if o == schema.OutcomeDead { // a retrying one is left to its schedule
			want[id] = true
		}
	}
	old := e.seedEvent(t, "default", "evt_old", "a.b", start.Add(-time.Hour))
	e.seedDelivery(t, old, ep.ID, 1, schema.OutcomeDead)
	e.seedDelivery(t, schema.Event{ID: "evt_pruned", Tenant: "default", Type: "a.b", CreatedAt: start.Add(time.Minute)}, ep.ID, 1, schema.OutcomeDead)

	r := call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/recover", `{"since":"`+start.UTC().Format(time.RFC3339Nano)+`"}`)
	var j jobView
	decodeJSON(t, r, http.StatusAccepted, &j)
	if j.Status != "running" || j.Total != 4 || r.header.Get("Location") != "/v1/jobs/"+j.ID {
		t.Errorf("job = %+v (Location %q), want running with total 4", j, r.header.Get("Location"))
	}
	testenv.Eventually(t, 15*time.Second, func() bool {
		decodeJSON(t, call(t, "GET", base+"/v1/jobs/"+j.ID, ""), http.StatusOK, &j)
		return j.Status != "running"
	}, "job still running: %+v", &j)
	if j.Status != "done" || j.Done != 2 || j.Failed != 1 || j.Skipped != 1 || j.FinishedAt == nil {
		t.Errorf("finished job = %+v, want done: 2 sent, 1 failed (event gone), 1 skipped (retrying)", j)
	}
	tasks := e.tasks(t, 2)
	for i, task := range tasks {
		if !want[task.DeliveryID] || task.Attempt != 3 {
			t.Errorf("task %d = %s attempt %d, want one of the failed deliveries, attempt 3", i, task.DeliveryID, task.Attempt)
		}
		if i > 0 && task.Event.CreatedAt.Before(tasks[i-1].Event.CreatedAt) {
			t.Errorf("tasks not oldest first")
		}
	}
	var page deliveryPage
	decodeJSON(t, call(t, "GET", base+"/v1/deliveries?status=dead&endpoint_id="+ep.ID, ""), http.StatusOK, &page)
	if len(page.Data) != 2 { // evt_old (before since) and evt_pruned (no event)
		t.Errorf("after recovery %d deliveries are dead, want 2", len(page.Data))
	}

	other := tenantWithKey(t, base, "acme")
	assertProblem(t, callAuth(t, "Bearer "+other, "GET", base+"/v1/jobs/"+j.ID, ""), http.StatusNotFound, "")
	assertProblem(t, call(t, "GET", base+"/v1/jobs/job_nope", ""), http.StatusNotFound, "")
	for _, bad := range []struct {
		body, field string
		status      int
	}{
		{`{}`, "since", 422},
		{`{"since":"2999-01-01T00:00:00Z"}`, "since", 422},
		{`{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`, "until", 422},
		{`{"since":"yesterday"}`, "", 400},
		{`{"since":"2026-01-01T00:00:00Z","limit":1}`, "limit", 400},
	} {
		assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/recover", bad.body), bad.status, bad.field)
	}
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/ep_nope/recover", `{"since":"2026-01-01T00:00:00Z"}`), http.StatusNotFound, "")
}
