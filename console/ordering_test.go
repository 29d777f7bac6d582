package console_test

import (
	"context"
	"fmt"
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

// The halted keys page of an ordered endpoint lists each halted key with
// its head, the number of deliveries waiting behind it and buttons that
// retry or skip the head; skipping from it comes back to it, the key gone.
// Another tenant's console does not show the endpoint's keys.
func TestConsoleHaltedKeysPage(t *testing.T) {
	s := newSite(t, false)
	ctx := context.Background()
	ep, err := s.db.CreateEndpoint(ctx, schema.NewEndpoint{ID: "ep_halt", Tenant: "default", URL: "http://127.0.0.1:9/",
		DisplayURL: "http://127.0.0.1:9/", EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Timeout: time.Second, Ordering: schema.OrderingKey, DeadHead: schema.DeadHeadHalt})
	testenv.Must(t, err, "CreateEndpoint")
	now := time.Now().UTC()
	var heads []string
	for i, key := range []string{"acct-<b>1</b>", "acct-2"} {
		var reqs []schema.OrderRequest
		for j := range 3 {
			id := fmt.Sprintf("evt_%d_%d", i, j)
			ev := schema.Event{ID: id, Tenant: "default", Type: "pay.made", Data: []byte(`{}`), CreatedAt: now}
			_, err := s.db.ClaimEvents(ctx, []schema.Claim{{Event: ev, Partition: 0, Offset: int64(10*i + j)}})
			testenv.Must(t, err, "ClaimEvents")
			reqs = append(reqs, schema.OrderRequest{DeliveryID: schema.DeliveryID("default", id, ep.ID), EndpointID: ep.ID, Key: key,
				Tenant: "default", EventID: id, EventType: ev.Type})
		}
		_, err = s.db.AssignOrder(ctx, reqs)
		testenv.Must(t, err, "AssignOrder")
		_, err = s.db.ResolveOrdered(ctx, ep.ID, key, 1, true, "")
		testenv.Must(t, err, "ResolveOrdered")
		heads = append(heads, reqs[0].DeliveryID)
	}

	b := s.browser(t)
	b.login()
	if p := b.get("/console/t/default/endpoints/" + ep.ID); !strings.Contains(p.body, `id="halted-keys" href="/console/t/default/endpoints/`+ep.ID+`/halted"`) {
		t.Fatalf("the ordered endpoint's page has no link to its halted keys:\n%s", p.body)
	}
	page := "/console/t/default/endpoints/" + ep.ID + "/halted"
	p := b.get(page)
	for _, want := range []string{`data-key="acct-&lt;b&gt;1&lt;/b&gt;"`, `data-key="acct-2"`,
		`href="/console/t/default/deliveries/` + heads[0] + `"`, `action="` + page + `/` + heads[1] + `/skip"`,
		`action="` + page + `/` + heads[1] + `/retry"`, "<td>2</td>"} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("halted keys page (%d) lacks %s:\n%s", p.status, want, p.body)
		}
	}
	if strings.Contains(p.body, "<b>1</b>") {
		t.Fatalf("a key's markup was rendered")
	}
	r := b.do("POST", page+"/"+heads[1]+"/skip", url.Values{"csrf": {b.csrf(page)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != page+"?done=skipped" {
		t.Fatalf("skip from the halted keys page: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	if p := b.get(page + "?done=skipped"); strings.Contains(p.body, `data-key="acct-2"`) || !strings.Contains(p.body, `data-key="acct-&lt;b&gt;1&lt;/b&gt;"`) ||
		!strings.Contains(p.body, "Skipped: the next delivery") {
		t.Fatalf("after the skip the page still lists acct-2, or lost acct-<b>1</b>, or shows no notice:\n%s", p.body)
	}
	if r := b.do("POST", page+"/"+heads[0]+"/explode", url.Values{"csrf": {b.csrf(page)}}); r.status != http.StatusNotFound {
		t.Errorf("an unknown action on a halted head: %d, want 404", r.status)
	}
	_, err = s.db.CreateTenant(ctx, "other", "")
	testenv.Must(t, err, "CreateTenant")
	if p := b.get("/console/t/other/endpoints/" + ep.ID + "/halted"); p.status != http.StatusNotFound || strings.Contains(p.body, "acct-") {
		t.Errorf("another tenant's console shows the endpoint's halted keys: %d", p.status)
	}
}
