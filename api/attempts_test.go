package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/schema"
)

type feedPage struct {
	Data []struct {
		DeliveryID string    `json:"delivery_id"`
		Attempt    int       `json:"attempt"`
		EndpointID string    `json:"endpoint_id"`
		EventType  string    `json:"event_type"`
		Outcome    string    `json:"outcome"`
		StatusCode int       `json:"status_code"`
		At         time.Time `json:"at"`
	} `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func TestAttemptFeedOldestFirstFilteredAndPaged(t *testing.T) {
	base, e := newServer(t)
	call(t, "POST", base+"/v1/tenants", `{"id":"other"}`)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	a := e.seedDelivery(t, e.seedEvent(t, "default", "ev_a", "invoice.paid", start), "ep_a", 2, schema.OutcomeSucceeded)
	b := e.seedDelivery(t, e.seedEvent(t, "default", "ev_b", "order.created", start.Add(10*time.Second)), "ep_b", 1, schema.OutcomeDead)
	e.seedDelivery(t, e.seedEvent(t, "other", "ev_o", "invoice.paid", start), "ep_o", 1, schema.OutcomeSucceeded)

	list := func(q url.Values) feedPage {
		t.Helper()
		r := call(t, "GET", base+"/v1/attempts?"+q.Encode(), "")
		if r.status != http.StatusOK {
			t.Fatalf("GET /v1/attempts?%s: %d %s", q.Encode(), r.status, r.body)
		}
		var p feedPage
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	since := start.Format(time.RFC3339)
	p := list(url.Values{"since": {since}})
	want := []string{a + "#1", a + "#2", b + "#1"} // by time: a at +1s, +2s; b at +11s
	if len(p.Data) != len(want) {
		t.Fatalf("feed has %d attempts, want %d (the other tenant's left out): %+v", len(p.Data), len(want), p.Data)
	}
	for i, w := range want {
		if got := p.Data[i].DeliveryID + "#" + string(rune('0'+p.Data[i].Attempt)); got != w {
			t.Errorf("attempt %d is %s, want %s", i, got, w)
		}
	}
	if p.Data[2].EventType != "order.created" || p.Data[2].Outcome != "dead" || p.Data[2].StatusCode != 503 {
		t.Errorf("b's attempt: %+v", p.Data[2])
	}
	if p := list(url.Values{"since": {since}, "endpoint_id": {"ep_b"}}); len(p.Data) != 1 || p.Data[0].DeliveryID != b {
		t.Errorf("endpoint_id=ep_b: %+v", p.Data)
	}
	if p := list(url.Values{"since": {since}, "outcome": {"succeeded"}}); len(p.Data) != 1 || p.Data[0].Attempt != 2 {
		t.Errorf("outcome=succeeded: %+v", p.Data)
	}
	if p := list(url.Values{"since": {start.Add(5 * time.Second).Format(time.RFC3339)}}); len(p.Data) != 1 {
		t.Errorf("since +5s: %+v", p.Data)
	}
	// Paged: one at a time, the cursors lead through all three in order.
	var got []string
	q := url.Values{"since": {since}, "limit": {"1"}}
	for range 5 {
		p := list(q)
		for _, d := range p.Data {
			got = append(got, d.DeliveryID+"#"+string(rune('0'+d.Attempt)))
		}
		if p.NextCursor == "" {
			break
		}
		q.Set("cursor", p.NextCursor)
	}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("paged: %v, want %v", got, want)
	}

	for _, bad := range []string{"", "since=yesterday", "since=" + url.QueryEscape(since) + "&cursor=12.x",
		"since=" + url.QueryEscape(since) + "&outcome=lost"} {
		if r := call(t, "GET", base+"/v1/attempts?"+bad, ""); r.status != http.StatusBadRequest {
			t.Errorf("GET /v1/attempts?%s: %d, want 400", bad, r.status)
		}
	}
}

func TestListenIsAWebSocketStream(t *testing.T) {
	base, _ := newServer(t)
	r := call(t, "GET", base+"/v1/listen?events=invoice.*", "")
	if r.status != http.StatusUpgradeRequired || r.header.Get("Upgrade") != "websocket" {
		t.Errorf("plain GET /v1/listen: %d (Upgrade %q), want 426", r.status, r.header.Get("Upgrade"))
	}
	if r := call(t, "GET", base+"/v1/listen?events=a.b*", ""); r.status != http.StatusBadRequest {
		t.Errorf("GET /v1/listen?events=a.b*: %d, want 400", r.status)
	}
	for _, bad := range []string{"whsec_nope", "", "whsec_" + strings.Repeat("A", 120)} {
		if r := call(t, "GET", base+"/v1/listen", "", "X-Hookstream-Listener-Secret", bad); r.status != http.StatusBadRequest {
			t.Errorf("GET /v1/listen with secret %q: %d, want 400", bad, r.status)
		}
	}
	if r := callAuth(t, "", "GET", base+"/v1/listen", ""); r.status != http.StatusUnauthorized {
		t.Errorf("GET /v1/listen without a token: %d, want 401", r.status)
	}
	// Nothing was created by the refused requests.
	var eps struct{ Data []json.RawMessage }
	_ = json.Unmarshal(call(t, "GET", base+"/v1/endpoints", "").body, &eps)
	if len(eps.Data) != 0 {
		t.Errorf("refused listens left endpoints: %s", eps.Data)
	}
}
