package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// A halted ordering key in the console: the deliveries search offers
// "blocked", the blocked delivery's page names its key, its number and the
// delivery it waits for, and the dead head's page skips it, after which
// the key is no longer halted.
func TestConsoleShowsAndSkipsAHaltedKey(t *testing.T) {
	s := newSite(t, false)
	ctx := context.Background()
	ep, err := s.db.CreateEndpoint(ctx, schema.NewEndpoint{ID: "ep_ord", Tenant: "default", URL: "http://127.0.0.1:9/",
		DisplayURL: "http://127.0.0.1:9/", EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Timeout: time.Second, Ordering: schema.OrderingKey, DeadHead: schema.DeadHeadHalt})
	testenv.Must(t, err, "CreateEndpoint")
	now := time.Now().UTC()
	var ids []string
	var reqs []schema.OrderRequest
	for i, id := range []string{"evt_head", "evt_next"} {
		ev := schema.Event{ID: id, Tenant: "default", Type: "pay.made", Data: []byte(`{}`), CreatedAt: now}
		_, err := s.db.ClaimEvents(ctx, []schema.Claim{{Event: ev, Partition: 0, Offset: int64(i)}})
		testenv.Must(t, err, "ClaimEvents")
		ids = append(ids, schema.DeliveryID("default", id, ep.ID))
		reqs = append(reqs, schema.OrderRequest{DeliveryID: ids[i], EndpointID: ep.ID, Key: "acct-1", Tenant: "default", EventID: id, EventType: ev.Type})
	}
	_, err = s.db.AssignOrder(ctx, reqs)
	testenv.Must(t, err, "AssignOrder")
	_, err = s.db.ResolveOrdered(ctx, ep.ID, "acct-1", 1, true, "")
	testenv.Must(t, err, "ResolveOrdered")
	testenv.Must(t, s.db.WriteAttempts(ctx, []schema.Attempt{
		{V: 1, DeliveryID: ids[0], EndpointID: ep.ID, Tenant: "default", EventID: "evt_head", EventType: "pay.made", EventCreatedAt: now,
			Attempt: 1, Outcome: schema.OutcomeDead, StatusCode: 500, Sent: true, At: now, OrderingKey: "acct-1", Seq: 1},
		{V: 1, DeliveryID: ids[1], EndpointID: ep.ID, Tenant: "default", EventID: "evt_next", EventType: "pay.made", EventCreatedAt: now,
			Attempt: 1, Outcome: schema.OutcomeBlocked, At: now, OrderingKey: "acct-1", Seq: 2, WaitingFor: ids[0]},
	}, schema.DisableRule{}, nil), "WriteAttempts")

	b := s.browser(t)
	b.login()
	list := b.get("/console/t/default/deliveries?status=blocked")
	if !strings.Contains(list.body, `<option value="blocked" selected>`) || !strings.Contains(list.body, ids[1]) || strings.Contains(list.body, ids[0]) {
		t.Fatalf("blocked deliveries page (%d) does not list just %s with the filter selected", list.status, ids[1])
	}
	next := b.get("/console/t/default/deliveries/" + ids[1])
	if !strings.Contains(next.body, `id="waiting-for" href="/console/t/default/deliveries/`+ids[0]+`"`) ||
		!strings.Contains(next.body, "acct-1 · #2") || strings.Contains(next.body, `id="skip"`) {
		t.Fatalf("blocked delivery page does not show its key, number and what it waits for (or offers a skip):\n%s", next.body)
	}
	head := "/console/t/default/deliveries/" + ids[0]
	if p := b.get(head); !strings.Contains(p.body, `id="skip"`) {
		t.Fatalf("the dead head's page offers no skip")
	}
	p := b.do("POST", head+"/skip", url.Values{"csrf": {b.csrf(head)}})
	if p.status != http.StatusSeeOther || !strings.HasSuffix(p.header.Get("Location"), "done=skipped") {
		t.Fatalf("skip: %d %s %s", p.status, p.header.Get("Location"), p.body)
	}
	halted, err := s.db.HaltedKeys(ctx, "default", ep.ID, 10)
	testenv.Must(t, err, "HaltedKeys")
	if len(halted) != 0 {
		t.Fatalf("halted keys after the skip: %+v", halted)
	}
}
