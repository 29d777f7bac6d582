package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// A key of an ordered endpoint with dead_head halt stops at its dead head:
// the API lists it as halted, refuses to skip the blocked delivery behind
// it, skips the head (queueing the blocked one, with its place in the key)
// and refuses to make the endpoint unordered while one is still blocked.
func TestHaltedKeyListedAndSkipped(t *testing.T) {
	base, e := newServer(t)
	ctx := context.Background()
	var ep struct {
		ID       string `json:"id"`
		Ordering string `json:"ordering"`
		DeadHead string `json:"dead_head"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints",
		`{"url":"http://127.0.0.1:9/a","event_types":["*"],"ordering":"key","dead_head":"halt"}`), http.StatusCreated, &ep)
	if ep.Ordering != "key" || ep.DeadHead != "halt" {
		t.Fatalf("created endpoint: ordering %q dead_head %q", ep.Ordering, ep.DeadHead)
	}
	var ids []string
	var reqs []schema.OrderRequest
	for _, evID := range []string{"evt_o1", "evt_o2"} {
		ev := e.seedEvent(t, "default", evID, "a.b", time.Now().Add(-time.Minute))
		id := schema.DeliveryID("default", evID, ep.ID)
		ids = append(ids, id)
		reqs = append(reqs, schema.OrderRequest{DeliveryID: id, EndpointID: ep.ID, Key: "k/1 ü", Tenant: "default", EventID: evID, EventType: ev.Type})
	}
	_, err := e.db.AssignOrder(ctx, reqs)
	testenv.Must(t, err, "AssignOrder")
	g, err := e.db.AcquireOrdered(ctx, ep.ID, ids[1], nil, 1, 0)
	testenv.Must(t, err, "AcquireOrdered")
	if g.Verdict != schema.Blocked {
		t.Fatalf("second delivery: verdict %v, want blocked", g.Verdict)
	}
	_, err = e.db.ResolveOrdered(ctx, ep.ID, "k/1 ü", 1, true, "")
	testenv.Must(t, err, "ResolveOrdered")
	now := time.Now().UTC()
	testenv.Must(t, e.db.WriteAttempts(ctx, []schema.Attempt{
		{V: 1, DeliveryID: ids[0], EndpointID: ep.ID, Tenant: "default", EventID: "evt_o1", EventType: "a.b", EventCreatedAt: now,
			Attempt: 1, Outcome: schema.OutcomeDead, StatusCode: 500, Sent: true, At: now, OrderingKey: "k/1 ü", Seq: 1},
		{V: 1, DeliveryID: ids[1], EndpointID: ep.ID, Tenant: "default", EventID: "evt_o2", EventType: "a.b", EventCreatedAt: now,
			Attempt: 1, Outcome: schema.OutcomeBlocked, At: now, OrderingKey: "k/1 ü", Seq: 2, WaitingFor: ids[0]},
	}, schema.DisableRule{}, nil), "WriteAttempts")

	var halted struct {
		Data []struct {
			Key      string `json:"key"`
			Head     string `json:"head"`
			Sequence int64  `json:"sequence"`
			Blocked  int    `json:"blocked"`
		} `json:"data"`
	}
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID+"/ordering/halted", ""), http.StatusOK, &halted)
	if len(halted.Data) != 1 || halted.Data[0].Key != "k/1 ü" || halted.Data[0].Head != ids[0] || halted.Data[0].Blocked != 1 {
		t.Fatalf("halted keys = %+v", halted.Data)
	}
	var blocked struct {
		Data []struct {
			ID, Status, WaitingFor, OrderingKey string
			Sequence                            int64
		} `json:"data"`
	}
	r := call(t, "GET", base+"/v1/deliveries?status=blocked", "")
	decodeJSON(t, r, http.StatusOK, &blocked)
	var raw map[string][]map[string]any
	_ = json.Unmarshal(r.body, &raw)
	if len(raw["data"]) != 1 || raw["data"][0]["waiting_for"] != ids[0] || raw["data"][0]["sequence"] != float64(2) {
		t.Fatalf("blocked deliveries = %s", r.body)
	}

	// Made unordered while a delivery is blocked: accepted (the api
	// role's sweep sends it); ordered again before that: 409.
	if r := call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"ordering":"none"}`); r.status != http.StatusOK {
		t.Fatalf("unordering with a blocked delivery: %d %s", r.status, r.body)
	}
	p := assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"ordering":"key"}`), http.StatusConflict, "")
	if !strings.Contains(p.Detail, "still being wound down") {
		t.Errorf("detail %q does not say the previous ordering is still being wound down", p.Detail)
	}
	assertProblem(t, call(t, "POST", base+"/v1/deliveries/"+ids[1]+"/skip", ""), http.StatusConflict, "")
	assertProblem(t, call(t, "POST", base+"/v1/deliveries/msg_nosuch/skip", ""), http.StatusNotFound, "")
	if tasks := e.queued(t); len(tasks) != 0 {
		t.Fatalf("refused skips queued %+v", tasks)
	}
	r = call(t, "POST", base+"/v1/deliveries/"+ids[0]+"/skip", "")
	if r.status != http.StatusAccepted {
		t.Fatalf("skip of the halted head: %d %s", r.status, r.body)
	}
	tasks := e.queued(t)
	if len(tasks) != 1 || tasks[0].DeliveryID != ids[1] || tasks[0].Order == nil || tasks[0].Order.Seq != 2 {
		t.Fatalf("skip queued %+v, want the blocked delivery with sequence 2", tasks)
	}
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID+"/ordering/halted", ""), http.StatusOK, &halted)
	if len(halted.Data) != 0 {
		t.Fatalf("halted keys after the skip = %+v", halted.Data)
	}
	assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"dead_head":"stop"}`), http.StatusUnprocessableEntity, "dead_head")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/a","event_types":["*"],"ordering":"fifo"}`),
		http.StatusUnprocessableEntity, "ordering")
}

// An ordering key is text of at most 255 bytes: empty, too long or with a
// control character is a 422 naming the field.
func TestEventOrderingKeyChecked(t *testing.T) {
	base, _ := newServer(t)
	for _, key := range []string{`""`, `"` + strings.Repeat("k", 256) + `"`, `"a\u0000b"`, `"a\nb"`} {
		assertProblem(t, call(t, "POST", base+"/v1/events", `{"type":"a.b","data":{},"ordering_key":`+key+`}`),
			http.StatusUnprocessableEntity, "ordering_key")
	}
	assertProblem(t, call(t, "POST", base+"/v1/events", `{"type":"a.b","data":{},"ordering_key":7}`), http.StatusBadRequest, "ordering_key")
	r := call(t, "POST", base+"/v1/events", `{"type":"a.b","data":{},"ordering_key":"cust_ü/1"}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("a valid ordering key: %d %s", r.status, r.body)
	}
}
