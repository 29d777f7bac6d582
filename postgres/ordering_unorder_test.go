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
	origin := schema.ReleaseTag(ids[0], 1)
	res, err := db.ResolveOrdered(ctx, "ep_o", "cust_1", 1, false, origin)
	testenv.Must(t, err, "resolve 1")
	if res.Release == nil || res.Release.DeliveryID != ids[1] {
		t.Fatalf("resolving 1 released %+v, want %s", res.Release, ids[1])
	}
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
// reported stalled the moment the endpoint can be sent to again, before
// its parked head is replayed.
func TestNoStallWhenAnEndpointIsSendableAgain(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ids := orderedSetup(t, db, schema.DeadHeadSkip, 2)
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := db.raw.Exec(ctx, sql, args...)
		testenv.Must(t, err, sql)
	}
	exec(`INSERT INTO deliveries (id, tenant, endpoint_id, event_id, event_type, status, attempts, created_at, updated_at)
		VALUES ($1, 'default', 'ep_o', 'evt_0', 'invoice.paid', 'parked', 4, now() - interval '3 hours', now() - interval '2 hours')`, ids[0])
	exec(`UPDATE ordering_keys SET head_since = now() - interval '3 hours'`)
	_, err := db.SetEndpointState(ctx, "default", "ep_o", false, "failing")
	testenv.Must(t, err, "disable")
	exec(`UPDATE endpoints SET updated_at = now() - interval '2 hours'`)
	_, err = db.SetEndpointState(ctx, "default", "ep_o", true, "")
	testenv.Must(t, err, "enable")
	if st, err := db.OrderingStats(ctx); err != nil || st.OldestStall > time.Minute {
		t.Fatalf("re-enabled, its parked head not yet replayed: stall %v (%v), want none", st.OldestStall, err)
	}
	// A pause that ended a second ago, before the sweep ended it.
	exec(`UPDATE endpoints SET paused_at = now() - interval '1 hour', paused_until = now() - interval '1 second',
		updated_at = now() - interval '1 hour'`)
	if st, err := db.OrderingStats(ctx); err != nil || st.OldestStall > time.Minute {
		t.Fatalf("a pause just ended: stall %v (%v), want none", st.OldestStall, err)
	}
}
