package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	places, err := db.AssignOrder(ctx, reqs)
	testenv.Must(t, err, "AssignOrder")
	for i, p := range places {
		// The first is the head, and gets a task; the later ones are
		// blocked at birth behind it.
		if p.Seq != int64(i+1) || p.Held != (i > 0) || p.Blocked != (i > 0) || (i > 0 && p.WaitingFor != ids[0]) {
			t.Fatalf("places = %+v, want 1..%d, all but the first blocked behind %s", places, n, ids[0])
		}
	}
	// A batch read again after a crash gets the same numbers.
	again, err := db.AssignOrder(ctx, reqs)
	testenv.Must(t, err, "AssignOrder again")
	if fmt.Sprint(again) != fmt.Sprint(places) {
		t.Fatalf("places read again = %v, want %v", again, places)
	}
	return ids
}

// resolveFirst resolves the first delivery orderedSetup made, by its own
// task (attempt 1), and checks that it released the second.
func resolveFirst(t *testing.T, db testDB, ids []string) {
	t.Helper()
	res, err := db.ResolveOrdered(context.Background(), "ep_o", "cust_1", 1, false, schema.ReleaseTag(ids[0], 1))
	testenv.Must(t, err, "resolve 1")
	if res.Release == nil || res.Release.DeliveryID != ids[1] {
		t.Fatalf("resolving 1 released %+v, want %s", res.Release, ids[1])
	}
}

func order(seq int64) *schema.TaskOrder { return &schema.TaskOrder{Key: "cust_1", Seq: seq} }

// orderRequests are the order requests orderedSetup made.
func orderRequests(ids []string) []schema.OrderRequest {
	var reqs []schema.OrderRequest
	for i, id := range ids {
		reqs = append(reqs, schema.OrderRequest{DeliveryID: id, EndpointID: "ep_o", Key: "cust_1", Tenant: "default",
			EventID: fmt.Sprintf("evt_%d", i), EventType: "invoice.paid"})
	}
	return reqs
}

func TestOrderingGateBlocksAndReleasesInOrder(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 3)
	first := schema.ReleaseTag(ids[0], 1) // the tag of the first delivery's task

	// 2 and 3 were blocked at birth; a task of 2 (a copy read again, or
	// made before the upgrade) is blocked at the gate, idempotently.
	g, err := db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 2")
	if g.Verdict != schema.Blocked || g.WaitingFor != ids[0] {
		t.Fatalf("second delivery: verdict %v waiting for %q, want blocked behind %s", g.Verdict, g.WaitingFor, ids[0])
	}
	// A task without its place (a manual retry) finds it by delivery id.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[0], nil, 1, 0)
	testenv.Must(t, err, "AcquireOrdered 1")
	if g.Verdict != schema.Head || g.Seq != 1 || g.Key != "cust_1" {
		t.Fatalf("first delivery: %+v, want head 1 of cust_1", g)
	}
	st, err := db.OrderingStats(ctx)
	testenv.Must(t, err, "OrderingStats")
	if st.Blocked != 2 {
		t.Errorf("blocked = %d, want 2", st.Blocked)
	}

	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, false, first)
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
	if st.Blocked != 1 {
		t.Errorf("blocked once 2 was released = %d, want 1", st.Blocked)
	}
	// The dispatcher's batch read again after a crash: the same numbers,
	// and no task for any of them (1 resolved, 2 released, 3 blocked).
	again, err := db.AssignOrder(ctx, orderRequests(ids))
	testenv.Must(t, err, "AssignOrder after the resolution")
	want := []schema.OrderPlace{{Seq: 1, Held: true}, {Seq: 2, Held: true}, {Seq: 3, Held: true, Blocked: true, WaitingFor: ids[1]}}
	if fmt.Sprint(again) != fmt.Sprint(want) {
		t.Fatalf("places read again = %+v, want %+v", again, want)
	}
	// 3 was blocked at birth: resolving 2 releases it.
	res, err = db.ResolveOrdered(ctx, "ep_o", "cust_1", 2, false, first)
	testenv.Must(t, err, "ResolveOrdered 2")
	if res.Release == nil || res.Release.DeliveryID != ids[2] || res.Release.Order.Seq != 3 {
		t.Fatalf("resolving 2 released %+v, want %s", res.Release, ids[2])
	}
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[2], order(3), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 3")
	if g.Verdict != schema.Head {
		t.Fatalf("third delivery: verdict %v, want head", g.Verdict)
	}
}

// A manual retry of a delivery resolved already is sent (out of order, as
// documented) but does not release the key's head again: that head may be
// in flight, and would be sent twice. Only the task that released it, read
// again after a crash, does.
func TestOrderingManualRetryOfResolvedDoesNotReleaseHeadAgain(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 3)
	resolveFirst(t, db, ids)
	// The manual retry's task: attempt 2, its place from history.
	g, err := db.AcquireOrdered(ctx, "ep_o", ids[0], order(1), 2, 0)
	testenv.Must(t, err, "AcquireOrdered manual retry")
	if g.Verdict != schema.Resolved || g.Release != nil {
		t.Fatalf("manual retry of a resolved delivery: %+v, want resolved and nothing released", g)
	}
	// Without its place (found by delivery id): the same.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[0], nil, 2, 0)
	testenv.Must(t, err, "AcquireOrdered manual retry without place")
	if g.Verdict != schema.Resolved || g.Release != nil {
		t.Fatalf("manual retry without its place: %+v, want resolved and nothing released", g)
	}
	// A skip of the resolved delivery is no repair either.
	rel, err := db.SkipOrdered(ctx, "default", ids[0])
	testenv.Must(t, err, "SkipOrdered resolved")
	if rel != nil {
		t.Fatalf("skipping a resolved delivery released %+v again", rel)
	}
	// The task that released it, read again after a crash, still repairs.
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[0], order(1), 1, 0)
	testenv.Must(t, err, "AcquireOrdered read again")
	if g.Release == nil || g.Release.DeliveryID != ids[1] {
		t.Fatalf("the releasing task read again: %+v, want %s released again", g, ids[1])
	}
}

// Resolved deliveries are kept for a while, then pruned; a key idle, fully
// resolved and not halted is forgotten, and numbered from 1 if it comes
// back. A key with an unresolved delivery, or halted, stays.
func TestPruneOrderingForgetsResolvedDeliveriesAndIdleKeys(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 2)
	for i := range ids {
		_, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", int64(i+1), false, schema.ReleaseTag(ids[0], 1))
		testenv.Must(t, err, "ResolveOrdered")
	}
	// A second key, still waiting for its head.
	ev := schema.Event{ID: "evt_other", Tenant: "default", Type: "invoice.paid", Data: []byte(`{}`), CreatedAt: time.Now().UTC()}
	_, err := db.ClaimEvents(ctx, []schema.Claim{{Event: ev, Partition: 0, Offset: 99}})
	testenv.Must(t, err, "ClaimEvents")
	_, err = db.AssignOrder(ctx, []schema.OrderRequest{{DeliveryID: schema.DeliveryID("default", ev.ID, "ep_o"), EndpointID: "ep_o",
		Key: "cust_2", Tenant: "default", EventID: ev.ID, EventType: ev.Type}})
	testenv.Must(t, err, "AssignOrder cust_2")

	// Not old enough: nothing goes.
	past := time.Now().Add(-time.Hour)
	d, k, err := db.PruneOrdering(ctx, past, past, 100)
	testenv.Must(t, err, "PruneOrdering past")
	if d != 0 || k != 0 {
		t.Fatalf("pruning with cutoffs an hour ago deleted %d deliveries, %d keys", d, k)
	}
	// Resolved deliveries only (keys kept: zero idle cutoff).
	future := time.Now().Add(time.Hour)
	d, k, err = db.PruneOrdering(ctx, future, time.Time{}, 1)
	testenv.Must(t, err, "PruneOrdering resolved, batch of 1")
	if d != 1 || k != 0 {
		t.Fatalf("first batch deleted %d deliveries, %d keys; want 1, 0", d, k)
	}
	d, k, err = db.PruneOrdering(ctx, future, future, 100)
	testenv.Must(t, err, "PruneOrdering")
	if d != 1 || k != 1 {
		t.Fatalf("deleted %d deliveries, %d keys; want the last resolved delivery and cust_1 (cust_2 waits for its head)", d, k)
	}
	// cust_1 comes back: numbered from 1, the head.
	ev.ID = "evt_back"
	_, err = db.ClaimEvents(ctx, []schema.Claim{{Event: ev, Partition: 0, Offset: 100}})
	testenv.Must(t, err, "ClaimEvents back")
	places, err := db.AssignOrder(ctx, []schema.OrderRequest{{DeliveryID: schema.DeliveryID("default", ev.ID, "ep_o"), EndpointID: "ep_o",
		Key: "cust_1", Tenant: "default", EventID: ev.ID, EventType: ev.Type}})
	testenv.Must(t, err, "AssignOrder cust_1 back")
	if places[0].Seq != 1 || places[0].Held {
		t.Fatalf("a forgotten key back: %+v, want number 1, the head", places[0])
	}
	// A halted key stays however old.
	_, err = db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, true, "")
	testenv.Must(t, err, "halt cust_1")
	_, err = db.SkipOrdered(ctx, "default", schema.DeliveryID("default", "evt_other", "ep_o"))
	testenv.Must(t, err, "skip cust_2's head")
	d, k, err = db.PruneOrdering(ctx, future, future, 100)
	testenv.Must(t, err, "PruneOrdering halted")
	if k != 1 {
		t.Fatalf("deleted %d keys, want cust_2 only (cust_1 is halted)", k)
	}
	halted, err := db.HaltedKeys(ctx, "default", "ep_o", 10)
	testenv.Must(t, err, "HaltedKeys")
	if len(halted) != 1 || halted[0].Key != "cust_1" {
		t.Fatalf("halted keys after pruning: %+v", halted)
	}
}

func TestOrderingHaltAndSkip(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadHalt, 2)

	_, err := db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered 2")
	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, true, "")
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
	none := schema.OrderingNone
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
	// Made unordered: the sweep keeps the key while the released head is
	// not resolved (its task, read again after a crash, must find it),
	// and forgets it once it is.
	noSend := func(context.Context, []schema.Task) error { return nil }
	_, err = db.ReleaseUnordered(ctx, "ep_o", ep.UpdatedAt, noSend)
	testenv.Must(t, err, "ReleaseUnordered")
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered after unordering")
	if g.Verdict != schema.Head {
		t.Fatalf("the released head after unordering: %v, want still the head of its kept key", g.Verdict)
	}
	_, err = db.ResolveOrdered(ctx, "ep_o", "cust_1", 2, false, schema.ReleaseTag(ids[1], 1))
	testenv.Must(t, err, "ResolveOrdered 2")
	_, err = db.ReleaseUnordered(ctx, "ep_o", ep.UpdatedAt, noSend)
	testenv.Must(t, err, "ReleaseUnordered once resolved")
	g, err = db.AcquireOrdered(ctx, "ep_o", ids[1], order(2), 1, 0)
	testenv.Must(t, err, "AcquireOrdered once the key is forgotten")
	if g.Verdict != schema.Unordered {
		t.Fatalf("once the key is forgotten: %v, want unordered", g.Verdict)
	}
}

// TestOrderingStatsFindStalledKeys: a key whose later deliveries wait
// behind a head that is neither resolved, halted nor waiting for a retry
// due later is stalled, for as long as it has been so; a retry due later,
// a disabled endpoint, a halt or the head moving on is not a stall.
func TestOrderingStatsFindStalledKeys(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadHalt, 3)
	stall := func(step string) time.Duration {
		t.Helper()
		st, err := db.OrderingStats(ctx)
		testenv.Must(t, err, "OrderingStats")
		t.Logf("%s: stall %v", step, st.OldestStall)
		return st.OldestStall
	}
	exec := func(sql string, args ...any) { t.Helper(); db.exec(t, sql, args...) }
	near := func(got, want time.Duration) bool { return got > want-time.Minute && got < want+time.Minute }

	if s := stall("a fresh head"); s != 0 {
		t.Fatalf("stall behind a head that just became head = %v, want 0", s)
	}
	// The head's task never came (lost, or quarantined): 20 minutes on,
	// the endpoint unchanged for a day.
	exec(`UPDATE ordering_keys SET head_since = now() - interval '20 minutes'`)
	exec(`UPDATE endpoints SET updated_at = now() - interval '1 day'`)
	if s := stall("head untouched for 20 min"); !near(s, 20*time.Minute) {
		t.Fatalf("stall behind a head untouched for 20 minutes = %v, want about 20m", s)
	}
	if st, _ := db.OrderingStats(ctx); st.StalledEndpoint != "ep_o" || st.StalledHead != ids[0] {
		t.Fatalf("stalled key named endpoint %q head %q, want ep_o and %s", st.StalledEndpoint, st.StalledHead, ids[0])
	}
	// The head waits in a retry tier, due in an hour: not a stall.
	exec(`INSERT INTO deliveries (id, tenant, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES ($1, 'default', 'ep_o', 'evt_0', 'invoice.paid', 'retrying', 3, now() + interval '1 hour', now(), now())`, ids[0])
	if s := stall("retry due in an hour"); s != 0 {
		t.Fatalf("stall behind a head whose retry is due in an hour = %v, want 0", s)
	}
	// The retry was due 10 minutes ago and did not come.
	exec(`UPDATE deliveries SET next_attempt_at = now() - interval '10 minutes' WHERE id = $1`, ids[0])
	if s := stall("retry overdue by 10 min"); !near(s, 10*time.Minute) {
		t.Fatalf("stall behind an overdue retry = %v, want about 10m", s)
	}
	// A disabled endpoint parks its heads: that is not a stall.
	_, err := db.SetEndpointState(ctx, "default", "ep_o", false, "by hand")
	testenv.Must(t, err, "SetEndpointState disable")
	if s := stall("endpoint disabled"); s != 0 {
		t.Fatalf("stall of a disabled endpoint's key = %v, want 0", s)
	}
	_, err = db.SetEndpointState(ctx, "default", "ep_o", true, "")
	testenv.Must(t, err, "SetEndpointState enable")
	// A halted key is the halt alert's, not a stall.
	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, true, schema.ReleaseTag(ids[0], 3))
	testenv.Must(t, err, "ResolveOrdered halt")
	if !res.Halted {
		t.Fatalf("dead head with halt: %+v, want halted", res)
	}
	if s := stall("key halted"); s != 0 {
		t.Fatalf("stall of a halted key = %v, want 0", s)
	}
	// Skipped by hand, the head moves on and the key is fresh again.
	_, err = db.SkipOrdered(ctx, "default", ids[0])
	testenv.Must(t, err, "SkipOrdered")
	exec(`UPDATE deliveries SET status = 'dead' WHERE id = $1`, ids[0])
	if s := stall("head moved on"); s != 0 {
		t.Fatalf("stall once the head moved on = %v, want 0", s)
	}
	// Every delivery of the key resolved two hours ago; a new burst of the
	// key has a head that is head from now, not from then.
	exec(`UPDATE ordered_deliveries SET resolved_at = now(), blocked_attempt = NULL, blocked_tier = NULL, released = false`)
	exec(`UPDATE ordering_keys SET head_seq = next_seq + 1, head_since = now() - interval '2 hours'`)
	var reqs []schema.OrderRequest
	for i := range 2 {
		reqs = append(reqs, schema.OrderRequest{DeliveryID: fmt.Sprintf("dlv_new_%d", i), EndpointID: "ep_o", Key: "cust_1",
			Tenant: "default", EventID: fmt.Sprintf("evt_new_%d", i), EventType: "invoice.paid"})
	}
	places, err := db.AssignOrder(ctx, reqs)
	testenv.Must(t, err, "AssignOrder after idle")
	if !places[1].Blocked {
		t.Fatalf("places after idle = %+v, want the second blocked", places)
	}
	if s := stall("a new head after idle"); s != 0 {
		t.Fatalf("stall behind a head given its number just now, on a key idle for 2h = %v, want 0", s)
	}
}

// TestOrderingSwitchedOffReleasesBlocked: an endpoint made unordered while
// deliveries wait behind the heads of their keys keeps its keys until
// ReleaseUnordered has sent every one of them, those a dispatcher that
// had not heard of the change numbered afterwards included; until then it
// cannot be made ordered again. A send that fails changes nothing.
func TestOrderingSwitchedOffReleasesBlocked(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 4)
	for i, id := range ids[1:] {
		_, err := db.raw.Exec(ctx, `INSERT INTO deliveries (id, tenant, endpoint_id, event_id, event_type, status, attempts,
				waiting_for, created_at, updated_at)
			VALUES ($1, 'default', 'ep_o', $2, 'invoice.paid', 'blocked', 0, $3, now(), now())`, id, fmt.Sprintf("evt_%d", i+1), ids[0])
		testenv.Must(t, err, "insert blocked history")
	}
	none, key := schema.OrderingNone, schema.OrderingKey
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")
	if ep.Ordered() {
		t.Fatal("endpoint still ordered")
	}
	if n := db.count(t, `SELECT count(*) FROM ordered_deliveries WHERE blocked_attempt IS NOT NULL`); n != 3 {
		t.Fatalf("blocked rows after switching off = %d, want the 3 kept until they are sent", n)
	}
	if _, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &key}); !errors.Is(err, schema.ErrOrderingReleasing) {
		t.Fatalf("ordering again while blocked deliveries wait: %v, want ErrOrderingReleasing", err)
	}
	// A dispatcher whose table still said "key" numbers two more of
	// another key: the second is blocked at birth.
	var late []schema.OrderRequest
	for i := range 2 {
		late = append(late, schema.OrderRequest{DeliveryID: fmt.Sprintf("dlv_late_%d", i), EndpointID: "ep_o", Key: "cust_2",
			Tenant: "default", EventID: fmt.Sprintf("evt_%d", i), EventType: "invoice.paid"})
	}
	_, err = db.AssignOrder(ctx, late)
	testenv.Must(t, err, "AssignOrder by a stale dispatcher")

	eps, err := db.UnorderedWithKeys(ctx, 10)
	testenv.Must(t, err, "UnorderedWithKeys")
	if len(eps) != 1 || eps[0].ID != "ep_o" {
		t.Fatalf("unordered endpoints with keys = %+v, want ep_o", eps)
	}
	// The queue is down: nothing changes.
	_, err = db.ReleaseUnordered(ctx, "ep_o", ep.UpdatedAt, func(context.Context, []schema.Task) error {
		return errors.New("queue down")
	})
	if err == nil {
		t.Fatal("ReleaseUnordered with a failing send: no error")
	}
	if n := db.count(t, `SELECT count(*) FROM ordered_deliveries WHERE blocked_attempt IS NOT NULL`); n != 4 {
		t.Fatalf("blocked rows after a failed send = %d, want 4", n)
	}

	var sent []schema.Task
	n, err := db.ReleaseUnordered(ctx, "ep_o", ep.UpdatedAt, func(_ context.Context, ts []schema.Task) error {
		sent = append(sent, ts...)
		return nil
	})
	testenv.Must(t, err, "ReleaseUnordered")
	var got []string
	for _, task := range sent {
		if task.Order != nil || task.Attempt != 1 || len(task.Event.Data) == 0 || !task.EndpointVersion.Equal(ep.UpdatedAt) {
			t.Fatalf("released task %+v: want unordered, attempt 1, its event, the endpoint's version", task)
		}
		got = append(got, task.DeliveryID)
	}
	want := []string{ids[1], ids[2], ids[3], "dlv_late_1"}
	slices.Sort(got)
	slices.Sort(want)
	if n != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("released %d: %v, want %v", n, got, want)
	}
	if n := db.count(t, `SELECT count(*) FROM deliveries WHERE endpoint_id = 'ep_o' AND status = 'retrying' AND waiting_for IS NULL`); n != 3 {
		t.Fatalf("history rows shown retrying = %d, want 3", n)
	}
	if n := db.count(t, `SELECT count(*) FROM ordering_keys`) + db.count(t, `SELECT count(*) FROM ordered_deliveries`); n != 0 {
		t.Fatalf("ordering rows left after the release = %d, want 0", n)
	}
	if eps, _ := db.UnorderedWithKeys(ctx, 10); len(eps) != 0 {
		t.Fatalf("unordered endpoints with keys after the release = %+v", eps)
	}
	ep, err = db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &key})
	testenv.Must(t, err, "UpdateEndpoint key once released")
	if !ep.Ordered() {
		t.Fatal("endpoint not ordered again")
	}
}
