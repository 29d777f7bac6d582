package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// orderedSetup makes an ordered endpoint and claims n events of one key,
// returning their delivery ids in order.
func orderedSetup(t *testing.T, db testDB, deadHead string, n int) []string {
	t.Helper()
	ctx := context.Background()
	ne := newEndpoint("ep_o", "default")
	ne.Ordering, ne.DeadHead = schema.OrderingKey, deadHead
	ep := createEndpoint(t, db, ne)
	if !ep.Ordered() || ep.DeadHead != deadHead {
		t.Fatalf("endpoint ordering = %q, dead head %q", ep.Ordering, ep.DeadHead)
	}
	var claims []schema.Claim
	var reqs []schema.OrderRequest
	var ids []string
	for i := range n {
		ev := schema.Event{ID: fmt.Sprintf("evt_%d", i), Tenant: "default", Type: "invoice.paid",
			Data: []byte(`{"n":` + fmt.Sprint(i) + `}`), CreatedAt: time.Now().UTC(), OrderingKey: "cust_1"}
		claims = append(claims, schema.Claim{Event: ev, Partition: 0, Offset: int64(i)})
		id := schema.DeliveryID("default", ev.ID, "ep_o")
		ids = append(ids, id)
		reqs = append(reqs, schema.OrderRequest{DeliveryID: id, EndpointID: "ep_o", Key: "cust_1", Tenant: "default",
			EventID: ev.ID, EventType: ev.Type})
	}
	_, err := db.ClaimEvents(ctx, claims)
	testenv.Must(t, err, "ClaimEvents")
	seqs, err := db.AssignOrder(ctx, reqs)
	testenv.Must(t, err, "AssignOrder")
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("sequence numbers = %v, want 1..%d", seqs, n)
		}
	}
	// A batch read again after a crash gets the same numbers.
	again, err := db.AssignOrder(ctx, reqs)
	testenv.Must(t, err, "AssignOrder again")
	if fmt.Sprint(again) != fmt.Sprint(seqs) {
		t.Fatalf("numbers read again = %v, want %v", again, seqs)
	}
	return ids
}

func order(seq int64) *schema.TaskOrder { return &schema.TaskOrder{Key: "cust_1", Seq: seq} }

func TestOrderingGateBlocksAndReleasesInOrder(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 3)

	g, err := db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 2")
	if g.Verdict != schema.Blocked || g.WaitingFor != ids[0] {
		t.Fatalf("second delivery: verdict %v waiting for %q, want blocked behind %s", g.Verdict, g.WaitingFor, ids[0])
	}
	// Blocking is idempotent: the same task read again after a crash.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 2 again")
	if g.Verdict != schema.Blocked {
		t.Fatalf("second delivery again: verdict %v, want blocked", g.Verdict)
	}
	// A task without its place (a manual retry) finds it by delivery id.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[0], nil, 1, 0)
	testenv.Must(t, err, "AcquireOrdered 1")
	if g.Verdict != schema.Head || g.Seq != 1 || g.Key != "cust_1" {
		t.Fatalf("first delivery: %+v, want head 1 of cust_1", g)
	}
	st, err := db.OrderingStats(ctx)
	testenv.Must(t, err, "OrderingStats")
	if st.Blocked != 1 {
		t.Errorf("blocked = %d, want 1", st.Blocked)
	}

	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, false)
	testenv.Must(t, err, "ResolveOrdered 1")
	if res.Release == nil || res.Release.DeliveryID != ids[1] || res.Release.Order.Seq != 2 || res.Release.Attempt != 1 ||
		string(res.Release.Event.Data) != `{"n":1}` {
		t.Fatalf("resolving 1 released %+v, want the task of %s with its event", res.Release, ids[1])
	}
	// Resolved again (the same task after a crash): the released head,
	// not picked up yet, is released again; 1 is now earlier than the head.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[0], order(1), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 1 again")
	if g.Verdict != schema.Resolved || g.Release == nil || g.Release.DeliveryID != ids[1] {
		t.Fatalf("first delivery after resolution: %+v, want resolved, releasing %s again", g, ids[1])
	}
	// The released task arrives: the head.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered released")
	if g.Verdict != schema.Head {
		t.Fatalf("released delivery: verdict %v, want head", g.Verdict)
	}
	// Picked up, it stays released until it is resolved: it may be
	// handled in memory, and a crash would lose it.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[0], order(1), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 1 third")
	if g.Verdict != schema.Resolved || g.Release == nil || g.Release.DeliveryID != ids[1] {
		t.Fatalf("first delivery once the head was picked up: %+v, want resolved, the head released again", g)
	}
	st, err = db.OrderingStats(ctx)
	testenv.Must(t, err, "OrderingStats")
	if st.Blocked != 0 {
		t.Errorf("blocked once released = %d, want 0", st.Blocked)
	}
	// 3 is not blocked yet: resolving 2 releases nothing; 3 is the head.
	res, err = db.ResolveOrdered(ctx, "ep_o", "cust_1", 2, false)
	testenv.Must(t, err, "ResolveOrdered 2")
	if res.Release != nil {
		t.Fatalf("resolving 2 released %+v, want nothing", res.Release)
	}
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[2], order(3), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 3")
	if g.Verdict != schema.Head {
		t.Fatalf("third delivery: verdict %v, want head", g.Verdict)
	}
}

func TestOrderingHaltAndSkip(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadHalt, 2)

	_, err := db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 2")
	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, true)
	testenv.Must(t, err, "ResolveOrdered dead")
	if !res.Halted || res.Release != nil {
		t.Fatalf("a dead head with halt: %+v, want halted and nothing released", res)
	}
	halted, err := db.HaltedKeys(ctx, "default", "ep_o", 10)
	testenv.Must(t, err, "HaltedKeys")
	if len(halted) != 1 || halted[0].Key != "cust_1" || halted[0].Head != ids[0] || halted[0].Blocked != 1 {
		t.Fatalf("halted keys = %+v", halted)
	}
	if _, err := db.HaltedKeys(ctx, "other", "ep_o", 10); err != nil {
		t.Fatal(err)
	} else if h, _ := db.HaltedKeys(ctx, "other", "ep_o", 10); len(h) != 0 {
		t.Fatalf("another tenant sees halted keys %+v", h)
	}
	// The blocked one cannot be skipped, nor another tenant's.
	if _, err := db.SkipOrdered(ctx, "default", ids[1]); !errors.Is(err, schema.ErrNotHead) {
		t.Fatalf("skipping a blocked delivery: %v, want ErrNotHead", err)
	}
	if _, err := db.SkipOrdered(ctx, "other", ids[0]); !errors.Is(err, schema.ErrNotFound) {
		t.Fatalf("skipping another tenant's delivery: %v, want ErrNotFound", err)
	}
	// Making the endpoint unordered is refused while one is blocked.
	none := schema.OrderingNone
	if _, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none}); !errors.Is(err, schema.ErrOrderingBlocked) {
		t.Fatalf("unordering with a blocked delivery: %v, want ErrOrderingBlocked", err)
	}
	rel, err := db.SkipOrdered(ctx, "default", ids[0])
	testenv.Must(t, err, "SkipOrdered")
	if rel == nil || rel.DeliveryID != ids[1] {
		t.Fatalf("skip released %+v, want %s", rel, ids[1])
	}
	st, err := db.OrderingStats(ctx)
	testenv.Must(t, err, "OrderingStats")
	if st.HaltedKeys != 0 {
		t.Errorf("halted keys after the skip = %d, want 0", st.HaltedKeys)
	}
	g, err := db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered released")
	if g.Verdict != schema.Head {
		t.Fatalf("released: %v, want head", g.Verdict)
	}
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")
	if ep.Ordered() {
		t.Fatalf("endpoint still ordered")
	}
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered after unordering")
	if g.Verdict != schema.Unordered {
		t.Fatalf("after unordering: %v, want unordered", g.Verdict)
	}
}
