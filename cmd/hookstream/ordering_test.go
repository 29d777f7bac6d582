package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// orderChecker is a receiver's view of ordered delivery: per key, the
// sequence numbers it accepted (2xx), in the order it accepted them.
type orderChecker struct {
	mu       sync.Mutex
	accepted map[string][]int64
	// violations are accepted deliveries whose number is not above every
	// number accepted before on their key.
	violations []string
	headerless int
}

func newOrderChecker() *orderChecker { return &orderChecker{accepted: map[string][]int64{}} }

// accept records a 2xx answer to r.
func (c *orderChecker) accept(r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, err := url.PathUnescape(r.Header.Get("webhook-ordering-key"))
	seq, err2 := strconv.ParseInt(r.Header.Get("webhook-sequence"), 10, 64)
	if err != nil || err2 != nil || key == "" {
		c.headerless++
		return
	}
	got := c.accepted[key]
	if len(got) > 0 && seq <= got[len(got)-1] {
		c.violations = append(c.violations, fmt.Sprintf("key %s: %d accepted after %v", key, seq, got))
	}
	c.accepted[key] = append(got, seq)
}

func (c *orderChecker) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.accepted {
		n += len(s)
	}
	return n
}

// An ordered endpoint whose receiver fails at random gets each key's events
// in order: no delivery is accepted after a later one of its key, every
// event ends succeeded or dead, and each attempt carries its key and
// number. An unordered endpoint subscribed to the same events gets them
// all meanwhile. Events are published straight to the topic, keyed by
// their ordering key (the Kafka record key), over several partitions.
func TestOrderedDeliveryPerKeyUnderRandomFailures(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "200ms,500ms"})
	checker := newOrderChecker()
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(16, 1))
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		mu.Lock()
		fail := rng.IntN(4) == 0 // a quarter of the attempts fail
		mu.Unlock()
		if fail {
			return http.StatusServiceUnavailable
		}
		checker.accept(r)
		return http.StatusOK
	})
	plain := newReceiver(t, nil)
	var ordered createdEndpoint
	code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL + "/ordered", "event_types": []string{"order.*"},
		"ordering": "key"}, &ordered)
	if code != http.StatusCreated {
		t.Fatalf("create ordered endpoint: %d %s", code, raw)
	}
	unordered := s.endpoint(plain.URL+"/plain", "order.*")

	const keys, perKey = 6, 25
	cl := s.kafka()
	var recs []*kgo.Record
	for i := range perKey {
		for k := range keys {
			recs = append(recs, &kgo.Record{Topic: s.prefix + "events", Key: []byte("cust-" + strconv.Itoa(k)),
				Value: []byte(fmt.Sprintf(`{"tenant":"default","type":"order.updated","data":{"k":%d,"i":%d}}`, k, i))})
		}
	}
	testenv.Must(t, cl.ProduceSync(context.Background(), recs...).FirstErr(), "produce")

	total := keys * perKey
	plain.waitRequests(t, total, 60*time.Second)
	var ds []deliveryView
	testenv.Eventually(t, 120*time.Second, func() bool {
		ds = allDeliveries(s, ordered.ID)
		if len(ds) != total {
			return false
		}
		for _, d := range ds {
			if d.Status != "succeeded" && d.Status != "dead" {
				return false
			}
		}
		return true
	}, "ordered endpoint: want %d deliveries succeeded or dead", total)
	dead := 0
	for _, d := range ds {
		if d.Status == "dead" {
			dead++
		}
	}
	checker.mu.Lock()
	defer checker.mu.Unlock()
	if len(checker.violations) > 0 {
		t.Fatalf("%d order violations: %v", len(checker.violations), checker.violations)
	}
	if checker.headerless > 0 {
		t.Errorf("%d requests to the ordered endpoint without webhook-sequence and webhook-ordering-key", checker.headerless)
	}
	if len(checker.accepted) != keys {
		t.Errorf("accepted keys %d, want %d", len(checker.accepted), keys)
	}
	n := 0
	for _, seqs := range checker.accepted {
		n += len(seqs)
	}
	if n+dead != total {
		t.Errorf("accepted %d + dead %d != %d events", n, dead, total)
	}
	for _, r := range plain.requests() {
		if r.Header.Get("webhook-sequence") != "" {
			t.Fatalf("the unordered endpoint %s got a sequence header", unordered.ID)
		}
	}
}

// allDeliveries lists every delivery of an endpoint, page by page.
func allDeliveries(s *system, endpointID string) []deliveryView {
	s.t.Helper()
	var out []deliveryView
	cursor := ""
	for {
		var page struct {
			Data       []deliveryView
			NextCursor string `json:"next_cursor"`
		}
		path := "/v1/deliveries?limit=500&endpoint_id=" + endpointID
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		code, raw := s.call("GET", path, nil, &page)
		if code != http.StatusOK {
			s.t.Fatalf("list deliveries: %d %s", code, raw)
		}
		out = append(out, page.Data...)
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// With dead_head halt, a key stops at a delivery that is given up: the next
// one of its key waits, blocked, without an attempt, while another key goes
// on; skipping the dead head lets the key go on, in order. The endpoint is
// made, its halted key listed and the head skipped with the CLI.
func TestHaltedKeyWaitsUntilSkipped(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "100ms"})
	checker := newOrderChecker()
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		var body struct{ Fail bool }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.Header.Get("X-Webhook-Event-Id") == "poison" {
			return http.StatusInternalServerError
		}
		checker.accept(r)
		return http.StatusOK
	})
	var ep endpointAnswer
	s.okJSON(&ep, "endpoints", "create", "--url", rcv.URL, "--events", "*", "--ordering", "key", "--dead-head", "halt")
	if ep.Ordering != "key" || ep.DeadHead != "halt" {
		t.Fatalf("created endpoint: ordering %q dead head %q", ep.Ordering, ep.DeadHead)
	}
	publish := func(id, key string) {
		code, raw := s.call("POST", "/v1/events", map[string]any{"id": id, "type": "pay.made", "data": map[string]any{}, "ordering_key": key}, nil)
		if code != http.StatusAccepted {
			t.Fatalf("publish %s: %d %s", id, code, raw)
		}
	}
	publish("poison", "acct-1")
	publish("after", "acct-1")
	publish("other", "acct-2")

	testenv.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(s.ok("endpoints", "halted", ep.ID), "acct-1")
	}, "acct-1 is not listed halted")
	testenv.Eventually(t, 30*time.Second, func() bool { return checker.count() == 1 }, "acct-2 was not delivered")
	var blocked struct {
		Data []struct {
			EventID    string `json:"event_id"`
			Attempts   int    `json:"attempts"`
			WaitingFor string `json:"waiting_for"`
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		s.call("GET", "/v1/deliveries?status=blocked&endpoint_id="+ep.ID, nil, &blocked)
		return len(blocked.Data) == 1
	}, "the later delivery of acct-1 is not shown blocked")
	if b := blocked.Data[0]; b.EventID != "after" || b.Attempts != 0 || b.WaitingFor == "" {
		t.Fatalf("blocked delivery = %+v, want event after, no attempt, waiting for the dead head", b)
	}
	for _, r := range rcv.requests() {
		if r.Header.Get("X-Webhook-Event-Id") == "after" {
			t.Fatalf("the blocked delivery was sent")
		}
	}
	if r := s.hs("deliveries", "skip", blocked.Data[0].WaitingFor); r.code != 0 || !strings.Contains(r.stdout, "skipped") {
		t.Fatalf("deliveries skip: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := s.hs("deliveries", "skip", "msg_nosuch"); r.code == 0 {
		t.Fatalf("skipping no delivery exits 0")
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return checker.count() == 2 }, "acct-1's next event was not delivered after the skip")
	checker.mu.Lock()
	defer checker.mu.Unlock()
	if got := checker.accepted["acct-1"]; len(got) != 1 || got[0] != 2 {
		t.Fatalf("acct-1 accepted %v, want [2] (1 skipped)", got)
	}
}

// A Kafka record key is bytes from anyone: binary and 4 KiB, it still
// orders the event, under a bounded printable key ("sha256:" and its hash);
// a record keyed by its tenant (as hookstream's producer keys them) is
// ordered by its type.
func TestHostileRecordKeyOrdersUnderItsHash(t *testing.T) {
	s := startSystem(t, nil)
	checker := newOrderChecker()
	var mu sync.Mutex
	keys := map[string]string{} // event type → key received
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		checker.accept(r)
		mu.Lock()
		keys[r.Header.Get("X-Webhook-Event-Type")], _ = url.PathUnescape(r.Header.Get("webhook-ordering-key"))
		mu.Unlock()
		return http.StatusOK
	})
	var ep createdEndpoint
	code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"k.*"}, "ordering": "key"}, &ep)
	if code != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", code, raw)
	}
	binary := make([]byte, 4096)
	for i := range binary {
		binary[i] = byte(255 - i%7)
	}
	cl := s.kafka()
	testenv.Must(t, cl.ProduceSync(context.Background(),
		&kgo.Record{Topic: s.prefix + "events", Key: binary, Value: []byte(`{"tenant":"default","type":"k.binary","data":{}}`)},
		&kgo.Record{Topic: s.prefix + "events", Key: []byte("default"), Value: []byte(`{"tenant":"default","type":"k.tenant","data":{}}`)},
	).FirstErr(), "produce")
	testenv.Eventually(t, 30*time.Second, func() bool { return checker.count() == 2 }, "the two events were not delivered")
	mu.Lock()
	defer mu.Unlock()
	if k := keys["k.binary"]; !strings.HasPrefix(k, "sha256:") || len(k) != len("sha256:")+64 {
		t.Errorf("binary record key ordered under %q, want sha256: and 64 hex digits", k)
	}
	if k := keys["k.tenant"]; k != "k.tenant" {
		t.Errorf("record keyed by its tenant ordered under %q, want its type", k)
	}
}

// A burst of one key while its head is in flight is held in Postgres at
// fan-out: each later delivery is shown blocked behind the head at once,
// and no task is made of it (the deliveries topic holds the head's task
// alone: nothing to block one by one at the gate); when the head is
// answered, the rest are released down the key, in order.
func TestOrderedBurstBlockedAtBirth(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_DELIVERY_TIMEOUT": "30s"})
	checker := newOrderChecker()
	hold := make(chan struct{})
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		if n == 0 {
			select { // the head stays in flight until the checks are done
			case <-hold:
			case <-r.Context().Done():
			}
		}
		checker.accept(r)
		return http.StatusOK
	})
	var ep createdEndpoint
	code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"pay.*"},
		"ordering": "key"}, &ep)
	if code != http.StatusCreated {
		t.Fatalf("create ordered endpoint: %d %s", code, raw)
	}
	const n = 8
	cl := s.kafka()
	testenv.Must(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: s.prefix + "events", Key: []byte("acct-1"),
		Value: []byte(`{"tenant":"default","type":"pay.made","data":{"i":0}}`)}).FirstErr(), "produce the head")
	rcv.waitRequests(t, 1, 30*time.Second)
	var recs []*kgo.Record
	for i := 1; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: s.prefix + "events", Key: []byte("acct-1"),
			Value: []byte(fmt.Sprintf(`{"tenant":"default","type":"pay.made","data":{"i":%d}}`, i))})
	}
	testenv.Must(t, cl.ProduceSync(context.Background(), recs...).FirstErr(), "produce the burst")

	type view struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		WaitingFor string `json:"waiting_for"`
		Sequence   int64  `json:"sequence"`
	}
	var head string
	testenv.Eventually(t, 30*time.Second, func() bool {
		var page struct{ Data []view }
		if code, _ := s.call("GET", "/v1/deliveries?limit=100&status=blocked&endpoint_id="+ep.ID, nil, &page); code != http.StatusOK {
			return false
		}
		for _, d := range page.Data {
			if d.WaitingFor == "" || (head != "" && d.WaitingFor != head) {
				return false
			}
			head = d.WaitingFor
		}
		return len(page.Data) == n-1
	}, "want the %d later deliveries shown blocked behind the head", n-1)
	tasks := 0
	for _, r := range readN(t, s, s.prefix+"deliveries", 1) {
		if string(r.Key) == ep.ID {
			tasks++
		}
	}
	if tasks != 1 {
		t.Errorf("the deliveries topic holds %d tasks of the ordered endpoint, want the head's alone", tasks)
	}
	close(hold)
	rcv.waitRequests(t, n, 30*time.Second)
	s.waitStatus(ep.ID, n, "succeeded", 30*time.Second)
	checker.mu.Lock()
	defer checker.mu.Unlock()
	if len(checker.violations) > 0 || len(checker.accepted["acct-1"]) != n {
		t.Fatalf("accepted %v, violations %v; want 1..%d in order", checker.accepted, checker.violations, n)
	}
}

// A manual retry of a delivery its key has gone past is sent again (out of
// order, with its old number), but does not release the key's head again
// while that head is in flight: here a halted key's dead head is skipped,
// the next delivery is released and held in flight by the receiver, and
// the skipped head is then retried by hand. The in-flight head reaches the
// receiver once.
func TestManualRetryOfResolvedDeliveryDoesNotResendInFlightHead(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "100ms", "HOOKSTREAM_DELIVERY_TIMEOUT": "30s"})
	hold := make(chan struct{})
	var (
		mu   sync.Mutex
		seen = map[string]int{} // webhook-sequence → requests
		ok1  bool
	)
	rcv := newReceiver(t, func(_ int, r *http.Request) int {
		seq := r.Header.Get("webhook-sequence")
		mu.Lock()
		seen[seq]++
		n, ok := seen[seq], ok1
		mu.Unlock()
		switch {
		case seq == "1" && !ok:
			return http.StatusInternalServerError
		case seq == "2" && n == 1:
			select { // #2 stays in flight until the checks are done
			case <-hold:
			case <-r.Context().Done():
			}
		}
		return http.StatusOK
	})
	var ep createdEndpoint
	if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"pay.*"},
		"ordering": "key", "dead_head": "halt"}, &ep); code != http.StatusCreated {
		t.Fatalf("create ordered endpoint: %d %s", code, raw)
	}
	for i := range 2 {
		if code, raw := s.call("POST", "/v1/events", map[string]any{"type": "pay.made", "data": map[string]any{"i": i}, "ordering_key": "acct-1"}, nil); code != http.StatusAccepted {
			t.Fatalf("publish: %d %s", code, raw)
		}
	}
	var head, next deliveryView
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, d := range s.deliveries(ep.ID) {
			switch d.Status {
			case "dead":
				head = d
			case "blocked":
				next = d
			}
		}
		return head.ID != "" && next.ID != ""
	}, "want #1 dead, its key halted, #2 blocked")
	if code, raw := s.call("POST", "/v1/deliveries/"+head.ID+"/skip", nil, nil); code != http.StatusAccepted {
		t.Fatalf("skip #1: %d %s", code, raw)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["2"] == 1
	}, "want #2 released by the skip and in flight")
	mu.Lock()
	ok1 = true
	mu.Unlock()
	if code, raw := s.call("POST", "/v1/deliveries/"+head.ID+"/retry", nil, nil); code != http.StatusAccepted {
		t.Fatalf("retry #1: %d %s", code, raw)
	}
	// The retry of #1 is sent and its outcome recorded: a record that
	// released #2 again would have gone in the same transaction.
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, d := range s.deliveries(ep.ID) {
			if d.ID == head.ID && d.Status == "succeeded" {
				return true
			}
		}
		return false
	}, "want the retry of #1 succeeded")
	close(hold)
	s.waitStatus(ep.ID, 2, "succeeded", 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if seen["2"] != 1 {
		t.Fatalf("the in-flight head #2 reached the receiver %d times, want once", seen["2"])
	}
}

// An ordered endpoint whose head keeps failing holds the later deliveries
// of its key; switched to "ordering": "none", those are sent at once
// (by the api role's sweep), unordered, while the head goes on retrying,
// and the endpoint can be ordered again once they are out.
func TestSwitchingOrderingOffSendsBlocked(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "1h"})
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		if r.Header.Get("X-Webhook-Event-Id") == "head" {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	var ep endpointAnswer
	s.okJSON(&ep, "endpoints", "create", "--url", rcv.URL, "--events", "*", "--ordering", "key")
	for _, id := range []string{"head", "after-1", "after-2"} {
		code, raw := s.call("POST", "/v1/events", map[string]any{"id": id, "type": "pay.made", "data": map[string]any{}, "ordering_key": "acct-1"}, nil)
		if code != http.StatusAccepted {
			t.Fatalf("publish %s: %d %s", id, code, raw)
		}
	}
	var blocked struct {
		Data []struct {
			EventID string `json:"event_id"`
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		s.call("GET", "/v1/deliveries?status=blocked&endpoint_id="+ep.ID, nil, &blocked)
		return len(blocked.Data) == 2
	}, "the later deliveries of acct-1 are not shown blocked behind the failing head")
	if code, raw := s.call("PATCH", "/v1/endpoints/"+ep.ID, map[string]any{"ordering": "none"}, nil); code != http.StatusOK {
		t.Fatalf("switching ordering off: %d %s", code, raw)
	}
	// Ordered again before the blocked ones are out: refused, 409.
	code, raw := s.call("PATCH", "/v1/endpoints/"+ep.ID, map[string]any{"ordering": "key"}, nil)
	sent := func(id string) bool {
		for _, r := range rcv.requests() {
			if r.Header.Get("X-Webhook-Event-Id") == id {
				return true
			}
		}
		return false
	}
	if code != http.StatusConflict && !(sent("after-1") && sent("after-2")) {
		t.Fatalf("ordering again while deliveries are blocked: %d %s, want 409", code, raw)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return sent("after-1") && sent("after-2") },
		"the blocked deliveries were not sent once the endpoint was made unordered")
	testenv.Eventually(t, 30*time.Second, func() bool {
		var done struct {
			Data []struct {
				EventID string `json:"event_id"`
			}
		}
		s.call("GET", "/v1/deliveries?status=succeeded&endpoint_id="+ep.ID, nil, &done)
		return len(done.Data) == 2
	}, "the released deliveries are not recorded succeeded")
	var head struct{ Data []struct{ Status string } }
	s.call("GET", "/v1/deliveries?endpoint_id="+ep.ID+"&event_id=head", nil, &head)
	if len(head.Data) != 1 || head.Data[0].Status != "retrying" {
		t.Fatalf("the failing head = %+v, want still retrying", head.Data)
	}
	if code == http.StatusConflict {
		testenv.Eventually(t, 30*time.Second, func() bool {
			code, _ := s.call("PATCH", "/v1/endpoints/"+ep.ID, map[string]any{"ordering": "key"}, nil)
			return code == http.StatusOK
		}, "the endpoint could not be ordered again once the blocked deliveries were out")
	}
}
