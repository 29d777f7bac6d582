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

// The interleavings of an endpoint made unordered with the stages that
// still work on its keys (found in review; each failed before its fix).

// waitLockWaiters waits until n backends of the test database wait on a lock.
func waitLockWaiters(t *testing.T, db testDB, n int) {
	t.Helper()
	for range 250 {
		_, _ = db.raw.Exec(context.Background(), `SELECT pg_stat_clear_snapshot()`)
		if db.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never saw %d backends waiting on a lock", n)
}

// sweep runs ReleaseUnordered as the api role's sweep does and returns the
// ids of the tasks it sent.
func sweep(t *testing.T, db testDB, version time.Time) []string {
	t.Helper()
	var sent []string
	_, err := db.ReleaseUnordered(context.Background(), "ep_o", version, func(_ context.Context, ts []schema.Task) error {
		for _, task := range ts {
			sent = append(sent, task.DeliveryID)
		}
		return nil
	})
	testenv.Must(t, err, "ReleaseUnordered")
	return sent
}

// A dispatcher numbering a delivery of a key while the endpoint is made
// unordered (nothing blocked yet): the delivery, blocked at birth (no
// task), keeps its row and is sent by the sweep. (The switch deleted the
// keys, and the row with them, before.)
func TestUnorderingWhileADispatcherNumbersLosesNothing(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	orderedSetup(t, db, schema.DeadHeadSkip, 1) // cust_1: its head in flight, nothing blocked

	// The key's lock, held a moment (by a resolution, say).
	tx, err := db.raw.Begin(ctx)
	testenv.Must(t, err, "begin")
	_, err = tx.Exec(ctx, `SELECT 1 FROM ordering_keys WHERE endpoint_id = 'ep_o' AND key = 'cust_1' FOR UPDATE`)
	testenv.Must(t, err, "lock the key")
	type placed struct {
		p   []schema.OrderPlace
		err error
	}
	assigned := make(chan placed, 1)
	go func() {
		p, err := db.AssignOrder(ctx, []schema.OrderRequest{{DeliveryID: "dlv_d", EndpointID: "ep_o", Key: "cust_1",
			Tenant: "default", EventID: "evt_0", EventType: "invoice.paid"}})
		assigned <- placed{p, err}
	}()
	waitLockWaiters(t, db, 1)
	none := schema.OrderingNone
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")
	testenv.Must(t, tx.Commit(ctx), "commit")
	a := <-assigned
	testenv.Must(t, a.err, "AssignOrder")
	if !a.p[0].Blocked {
		t.Fatalf("dlv_d placed %+v, want blocked at birth behind the head in flight", a.p[0])
	}
	if sent := sweep(t, db, ep.UpdatedAt); !slices.Contains(sent, "dlv_d") {
		t.Fatalf("the sweep sent %v, want dlv_d (blocked at birth: it has no task)", sent)
	}
}

// A dispatcher's batch that gives a first number to a new key while the
// endpoint is being changed does not deadlock with the change.
func TestUnorderingDoesNotDeadlockWithANewKey(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	orderedSetup(t, db, schema.DeadHeadSkip, 1)
	tx, err := db.raw.Begin(ctx)
	testenv.Must(t, err, "begin")
	_, err = tx.Exec(ctx, `SELECT 1 FROM ordering_keys WHERE endpoint_id = 'ep_o' AND key = 'cust_1' FOR UPDATE`)
	testenv.Must(t, err, "lock the key")
	assigned := make(chan error, 1)
	go func() {
		_, err := db.AssignOrder(ctx, []schema.OrderRequest{
			{DeliveryID: "dlv_d", EndpointID: "ep_o", Key: "cust_1", Tenant: "default", EventID: "evt_0", EventType: "invoice.paid"},
			{DeliveryID: "dlv_e", EndpointID: "ep_o", Key: "cust_2", Tenant: "default", EventID: "evt_0", EventType: "invoice.paid"}})
		assigned <- err
	}()
	waitLockWaiters(t, db, 1)
	key := schema.OrderingKey
	updated := make(chan error, 1)
	go func() {
		// Ordered again: the change that reads the endpoint's keys.
		_, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &key})
		updated <- err
	}()
	select {
	case err := <-updated:
		testenv.Must(t, err, "UpdateEndpoint")
	case <-time.After(300 * time.Millisecond):
	}
	testenv.Must(t, tx.Commit(ctx), "commit")
	testenv.Must(t, <-assigned, "AssignOrder")
}

// A skip that releases the next delivery of a key while the sweep holds
// that delivery and is sending it: one of the two sends it, not both.
func TestSkipDuringTheSweepSendsOnce(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadHalt, 3)
	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, true, schema.ReleaseTag(ids[0], 5))
	testenv.Must(t, err, "halt")
	if !res.Halted {
		t.Fatal("the dead head did not halt its key")
	}
	none := schema.OrderingNone
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")

	inSend, proceed := make(chan struct{}), make(chan struct{})
	var swept []string
	done := make(chan error, 1)
	go func() {
		_, err := db.ReleaseUnordered(ctx, "ep_o", ep.UpdatedAt, func(_ context.Context, ts []schema.Task) error {
			for _, task := range ts {
				swept = append(swept, task.DeliveryID)
			}
			close(inSend)
			<-proceed
			return nil
		})
		done <- err
	}()
	<-inSend
	type skipped struct {
		t   *schema.Task
		err error
	}
	sk := make(chan skipped, 1)
	go func() {
		task, err := db.SkipOrdered(ctx, "default", ids[0])
		sk <- skipped{task, err}
	}()
	waitLockWaiters(t, db, 1)
	close(proceed)
	testenv.Must(t, <-done, "ReleaseUnordered")
	s := <-sk
	testenv.Must(t, s.err, "SkipOrdered")
	if s.t != nil && slices.Contains(swept, s.t.DeliveryID) {
		t.Fatalf("%s sent by the sweep (%v) and released by the skip", s.t.DeliveryID, swept)
	}
}

// Made unordered and ordered again before the sweep forgot the keys: 409,
// until it has; then a new delivery of a key whose last head went out
// unordered is not held behind it.
func TestOrderingAgainWaitsForTheOldKeys(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	orderedSetup(t, db, schema.DeadHeadSkip, 1)
	none, key := schema.OrderingNone, schema.OrderingKey
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")
	// A dispatcher that has not heard yet numbers a head: it goes out
	// unordered.
	_, err = db.AssignOrder(ctx, []schema.OrderRequest{{DeliveryID: "dlv_h", EndpointID: "ep_o", Key: "cust_9",
		Tenant: "default", EventID: "evt_h", EventType: "invoice.paid"}})
	testenv.Must(t, err, "AssignOrder by a stale dispatcher")
	if _, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &key}); !errors.Is(err, schema.ErrOrderingReleasing) {
		t.Fatalf("ordered again while the old keys are kept: %v, want ErrOrderingReleasing", err)
	}
	sweep(t, db, ep.UpdatedAt)
	_, err = db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &key})
	testenv.Must(t, err, "UpdateEndpoint key once the sweep forgot the keys")
	p, err := db.AssignOrder(ctx, []schema.OrderRequest{{DeliveryID: "dlv_n", EndpointID: "ep_o", Key: "cust_9",
		Tenant: "default", EventID: "evt_n", EventType: "invoice.paid"}})
	testenv.Must(t, err, "AssignOrder")
	if p[0].Blocked || p[0].Seq != 1 {
		t.Fatalf("a new delivery of cust_9 placed %+v, want the first of its key, not blocked", p[0])
	}
}

// A released delivery whose task was lost in a crash, its endpoint made
// unordered meanwhile: the sweep leaves it and keeps its key, so the task
// that released it, read again, releases it again (the deliverer asks the
// gate of every task with a place).
func TestReleasedDeliveryLostInACrashSurvivesUnordering(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 3)
	resolveFirst(t, db, ids)
	// The crash: the released task is lost.
	none := schema.OrderingNone
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")
	if sent := sweep(t, db, ep.UpdatedAt); fmt.Sprint(sent) != fmt.Sprint([]string{ids[2]}) {
		t.Fatalf("the sweep sent %v, want only %s (the blocked one)", sent, ids[2])
	}
	// The task that released it, read again.
	g, err := db.AcquireOrdered(ctx, "ep_o", ids[0], order(1), 1, 0)
	testenv.Must(t, err, "AcquireOrdered of the task read again")
	if g.Release == nil || g.Release.DeliveryID != ids[1] {
		t.Fatalf("the task read again: %+v, want %s released again", g, ids[1])
	}
}

// A key whose head parked while its endpoint was disabled or paused is not
// reported stalled once the endpoint can be sent to again and the parked
// head is replayed (due now), nor for the time it was paused.
func TestNoStallWhenAnEndpointIsSendableAgain(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 2)
	exec := func(sql string, args ...any) { t.Helper(); db.exec(t, sql, args...) }
	stall := func() time.Duration {
		t.Helper()
		st, err := db.OrderingStats(ctx)
		testenv.Must(t, err, "OrderingStats")
		return st.OldestStall
	}
	exec(`INSERT INTO deliveries (id, tenant, endpoint_id, event_id, event_type, status, attempts, created_at, updated_at)
		VALUES ($1, 'default', 'ep_o', 'evt_0', 'invoice.paid', 'parked', 4, now() - interval '3 hours', now() - interval '2 hours')`, ids[0])
	exec(`UPDATE ordering_keys SET head_since = now() - interval '3 hours'`)
	_, err := db.SetEndpointState(ctx, "default", "ep_o", false, "failing")
	testenv.Must(t, err, "disable")
	if s := stall(); s != 0 {
		t.Fatalf("a disabled endpoint's key: stall %v, want none", s)
	}
	ep, err := db.SetEndpointState(ctx, "default", "ep_o", true, "")
	testenv.Must(t, err, "enable")
	n, err := db.ReplayParked(ctx, "ep_o", ep.UpdatedAt, func(context.Context, []schema.Task) error { return nil })
	testenv.Must(t, err, "ReplayParked")
	if n != 1 {
		t.Fatalf("replayed %d, want the parked head", n)
	}
	if s := stall(); s > time.Minute {
		t.Fatalf("re-enabled, its parked head replayed: stall %v, want none", s)
	}
	// A pause that ended a second ago: not stalled for the pause.
	exec(`UPDATE deliveries SET status = 'succeeded', next_attempt_at = NULL`)
	exec(`UPDATE endpoints SET paused_at = now() - interval '1 hour', paused_until = now() - interval '1 second'`)
	if s := stall(); s > time.Minute {
		t.Fatalf("a pause just ended: stall %v, want none", s)
	}
	// Any other change of the endpoint does not hide a stall.
	exec(`UPDATE endpoints SET paused_at = NULL, paused_until = NULL, updated_at = now()`)
	if s := stall(); s < 2*time.Hour {
		t.Fatalf("a head untouched for 3 hours on an endpoint just edited: stall %v, want about 3h", s)
	}
}

// A task's place outlives its key: made unordered while its head waits in
// a retry tier, the endpoint's key is forgotten, the endpoint ordered
// again and the key numbered anew from 1. The old head's retry, with its
// old place, is not the new head: it goes out unordered and resolves
// nothing (it released the new era's 2 before its 1).
func TestAnOldPlaceIsNotTheHeadOfAKeyNumberedAgain(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 2) // ids[0] the head, in a retry tier; ids[1] blocked
	none, key := schema.OrderingNone, schema.OrderingKey
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")
	sweep(t, db, ep.UpdatedAt)
	_, err = db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &key})
	testenv.Must(t, err, "UpdateEndpoint key")
	places, err := db.AssignOrder(ctx, []schema.OrderRequest{
		{DeliveryID: "dlv_new_1", EndpointID: "ep_o", Key: "cust_1", Tenant: "default", EventID: "evt_n1", EventType: "invoice.paid"},
		{DeliveryID: "dlv_new_2", EndpointID: "ep_o", Key: "cust_1", Tenant: "default", EventID: "evt_n2", EventType: "invoice.paid"}})
	testenv.Must(t, err, "AssignOrder")
	if places[0].Seq != 1 || !places[1].Blocked {
		t.Fatalf("the key numbered again: %+v, want 1 the head and 2 blocked", places)
	}
	for _, withPlace := range []bool{true, false} {
		var o *schema.TaskOrder
		if withPlace {
			o = order(1)
		}
		g, err := db.AcquireOrdered(ctx, "ep_o", ids[0], o, 3, 2)
		testenv.Must(t, err, "AcquireOrdered of the old head's retry")
		if g.Verdict != schema.Unordered {
			t.Fatalf("the old head's retry (place given: %v): %+v, want unordered", withPlace, g)
		}
	}
	// Nor does it un-halt the new era's key.
	_, err = db.raw.Exec(ctx, `UPDATE ordering_keys SET halted_at = now()`)
	testenv.Must(t, err, "halt")
	g, err := db.AcquireOrdered(ctx, "ep_o", ids[0], order(1), 3, 2)
	testenv.Must(t, err, "AcquireOrdered")
	if g.Verdict != schema.Unordered {
		t.Fatalf("the old head's retry on a halted key: %+v, want unordered", g)
	}
	if n := db.count(t, `SELECT count(*) FROM ordering_keys WHERE halted_at IS NOT NULL`); n != 1 {
		t.Fatalf("the old head's retry un-halted the new era's key")
	}
}

// A key halted at a dead head that was released (any head but a key's
// first), its endpoint made unordered to get past the halt: the sweep
// keeps the key while a lost released task could still be read again,
// and forgets it once the endpoint has not changed for that long.
func TestAHaltedReleasedHeadDoesNotKeepItsKeyForEver(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadHalt, 3)
	resolveFirst(t, db, ids)
	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 2, true, schema.ReleaseTag(ids[0], 1))
	testenv.Must(t, err, "halt at 2")
	if !res.Halted {
		t.Fatal("the released dead head did not halt its key")
	}
	none, key := schema.OrderingNone, schema.OrderingKey
	ep, err := db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &none})
	testenv.Must(t, err, "UpdateEndpoint none")
	if sent := sweep(t, db, ep.UpdatedAt); fmt.Sprint(sent) != fmt.Sprint([]string{ids[2]}) {
		t.Fatalf("the sweep sent %v, want %s", sent, ids[2])
	}
	if n := db.count(t, `SELECT count(*) FROM ordering_keys`); n != 1 {
		t.Fatalf("keys right after the switch = %d, want the key kept for its released head", n)
	}
	_, err = db.raw.Exec(ctx, `UPDATE endpoints SET updated_at = now() - interval '11 minutes'`)
	testenv.Must(t, err, "age the switch")
	sweep(t, db, ep.UpdatedAt)
	if n := db.count(t, `SELECT count(*) FROM ordering_keys`); n != 0 {
		t.Fatalf("keys 11 minutes after the switch = %d, want none", n)
	}
	_, err = db.UpdateEndpoint(ctx, "default", "ep_o", schema.EndpointUpdate{Ordering: &key})
	testenv.Must(t, err, "UpdateEndpoint key")
}
