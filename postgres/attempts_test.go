package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// outcome is attempt n of delivery msg_1, made (or parked) at t0 + n minutes.
func outcome(n int, o schema.Outcome, code int, sent bool) schema.Attempt {
	a := schema.Attempt{
		V: schema.Version, DeliveryID: "msg_1", EndpointID: "ep_1", Tenant: "acme", EventID: "evt_1",
		EventType: "invoice.paid", EventCreatedAt: t0, Attempt: n, Outcome: o, StatusCode: code,
		LatencyMicros: 1500, Sent: sent, At: t0.Add(time.Duration(n) * time.Minute),
	}
	if o == schema.OutcomeRetrying {
		next := a.At.Add(time.Minute)
		a.NextAttemptAt, a.Error, a.ResponseBody = &next, "HTTP 503", "busy"
	}
	return a
}

func writeAttempts(t *testing.T, db testDB, batch ...schema.Attempt) {
	t.Helper()
	if err := db.WriteAttempts(context.Background(), batch, schema.DisableRule{}, nil); err != nil {
		t.Fatalf("WriteAttempts: %v", err)
	}
}

func delivery(t *testing.T, db testDB, id string) schema.Delivery {
	t.Helper()
	ds, err := db.Deliveries(context.Background(), schema.DeliveryFilter{Tenant: "acme", ID: id, Limit: 10})
	if err != nil {
		t.Fatalf("Deliveries: %v", err)
	}
	if len(ds) != 1 {
		t.Fatalf("deliveries with id %s = %d, want 1", id, len(ds))
	}
	return ds[0]
}

func assertDelivery(t *testing.T, d schema.Delivery, status schema.Outcome, attempts, code int, updated time.Time) {
	t.Helper()
	if d.Status != string(status) || d.Attempts != attempts || d.LastStatusCode != code || !d.UpdatedAt.Equal(updated) {
		t.Errorf("delivery = status %s, attempts %d, last code %d, updated %v; want %s, %d, %d, %v",
			d.Status, d.Attempts, d.LastStatusCode, d.UpdatedAt, status, attempts, code, updated)
	}
}

func TestWriteAttemptsRecordsAttemptAndDelivery(t *testing.T) {
	db := newTestDB(t)
	a1 := outcome(1, schema.OutcomeRetrying, 503, true)
	writeAttempts(t, db, a1)

	d := delivery(t, db, "msg_1")
	assertDelivery(t, d, schema.OutcomeRetrying, 1, 503, a1.At)
	if d.EndpointID != "ep_1" || d.EventID != "evt_1" || d.EventType != "invoice.paid" || !d.CreatedAt.Equal(t0) {
		t.Errorf("delivery = %+v, want endpoint ep_1, event evt_1 invoice.paid created %v", d, t0)
	}
	if d.LastError != "HTTP 503" || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(*a1.NextAttemptAt) {
		t.Errorf("delivery last error %q next %v, want HTTP 503 and %v", d.LastError, d.NextAttemptAt, a1.NextAttemptAt)
	}
	rows, err := db.Attempts(context.Background(), "acme", "msg_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Attempt != 1 || rows[0].Outcome != "retrying" || rows[0].StatusCode != 503 ||
		rows[0].LatencyMicros != 1500 || rows[0].ResponseBody != "busy" || !rows[0].At.Equal(a1.At) {
		t.Errorf("attempts = %+v, want one retrying 503 attempt", rows)
	}
}

func TestWriteAttemptsTwiceChangesNothing(t *testing.T) {
	db := newTestDB(t)
	batch := []schema.Attempt{outcome(1, schema.OutcomeRetrying, 503, true), outcome(2, schema.OutcomeRetrying, 500, true)}
	writeAttempts(t, db, batch...)
	before := delivery(t, db, "msg_1")
	writeAttempts(t, db, batch...)
	after := delivery(t, db, "msg_1")

	if n := db.count(t, `SELECT count(*) FROM attempts`); n != 2 {
		t.Errorf("attempt rows = %d, want 2", n)
	}
	if n := db.count(t, `SELECT count(*) FROM deliveries`); n != 1 {
		t.Errorf("delivery rows = %d, want 1", n)
	}
	assertDelivery(t, after, schema.OutcomeRetrying, 2, 500, batch[1].At)
	if before.Attempts != after.Attempts || before.Status != after.Status || !before.UpdatedAt.Equal(after.UpdatedAt) {
		t.Errorf("second write changed the delivery: %+v → %+v", before, after)
	}
}

func TestWriteAttemptsLaterAttemptUpdates(t *testing.T) {
	db := newTestDB(t)
	writeAttempts(t, db, outcome(1, schema.OutcomeRetrying, 503, true))
	a2 := outcome(2, schema.OutcomeSucceeded, 200, true)
	writeAttempts(t, db, a2)

	d := delivery(t, db, "msg_1")
	assertDelivery(t, d, schema.OutcomeSucceeded, 2, 200, a2.At)
	if d.LastError != "" || d.NextAttemptAt != nil {
		t.Errorf("succeeded delivery kept last error %q / next attempt %v", d.LastError, d.NextAttemptAt)
	}
	if n := db.count(t, `SELECT count(*) FROM attempts WHERE delivery_id = 'msg_1'`); n != 2 {
		t.Errorf("attempt rows = %d, want 2", n)
	}
}

func TestWriteAttemptsOlderOutcomeDoesNotRegress(t *testing.T) {
	db := newTestDB(t)
	a1 := outcome(1, schema.OutcomeRetrying, 503, true)
	a2 := outcome(2, schema.OutcomeSucceeded, 200, true)

	writeAttempts(t, db, a2)
	writeAttempts(t, db, a1) // arrives late, in a later batch
	assertDelivery(t, delivery(t, db, "msg_1"), schema.OutcomeSucceeded, 2, 200, a2.At)
	if n := db.count(t, `SELECT count(*) FROM attempts WHERE delivery_id = 'msg_1'`); n != 2 {
		t.Errorf("attempt rows = %d, want both attempts in the history", n)
	}

	db2 := newTestDB(t)
	writeAttempts(t, db2, a2, a1) // out of order within one batch
	assertDelivery(t, delivery(t, db2, "msg_1"), schema.OutcomeSucceeded, 2, 200, a2.At)
}

func TestWriteAttemptsParkedWithoutSend(t *testing.T) {
	db := newTestDB(t)

	// A first task parked: no attempt was made.
	first := outcome(1, schema.OutcomeParked, 0, false)
	first.DeliveryID = "msg_2"
	writeAttempts(t, db, first)
	assertDelivery(t, delivery(t, db, "msg_2"), schema.OutcomeParked, 0, 0, first.At)

	// A retry parked after two attempts were made.
	writeAttempts(t, db, outcome(1, schema.OutcomeRetrying, 503, true), outcome(2, schema.OutcomeRetrying, 503, true))
	parked := outcome(3, schema.OutcomeParked, 0, false)
	writeAttempts(t, db, parked)
	d := delivery(t, db, "msg_1")
	assertDelivery(t, d, schema.OutcomeParked, 2, 503, parked.At)

	if n := db.count(t, `SELECT count(*) FROM attempts WHERE delivery_id = 'msg_2'`); n != 0 {
		t.Errorf("parked-only delivery has %d attempt rows, want 0", n)
	}
	if n := db.count(t, `SELECT count(*) FROM attempts WHERE delivery_id = 'msg_1'`); n != 2 {
		t.Errorf("attempt rows = %d, want 2 (the parked task made none)", n)
	}
	if n := db.count(t, `SELECT count(*) FROM attempts WHERE outcome = 'parked'`); n != 0 {
		t.Errorf("%d parked attempt rows, want 0", n)
	}
}

func TestWriteAttemptsEmptyBatch(t *testing.T) {
	db := newTestDB(t)
	writeAttempts(t, db)
	if n := db.count(t, `SELECT count(*) FROM deliveries`); n != 0 {
		t.Errorf("delivery rows = %d, want 0", n)
	}
}

// TestWriteAttemptsEndpointHealth follows an endpoint's consecutive
// failures, and checks that a batch of successes leaves the row of an
// endpoint without failures untouched.
func TestWriteAttemptsEndpointHealth(t *testing.T) {
	db := newTestDB(t)
	createEndpoint(t, db, newEndpoint("ep_h", schema.DefaultTenant))
	n := 0
	attempt := func(o schema.Outcome, code int) schema.Attempt {
		n++
		a := outcome(1, o, code, true)
		a.DeliveryID, a.EndpointID, a.Tenant, a.At = "msg_h"+strconv.Itoa(n), "ep_h", schema.DefaultTenant, t0.Add(time.Duration(n)*time.Second)
		return a
	}
	health := func() (failures int, failing bool, xmin string) {
		t.Helper()
		var since *time.Time
		testenv.Must(t, db.raw.QueryRow(context.Background(),
			`SELECT consecutive_failures, failing_since, xmin::text FROM endpoints WHERE id = 'ep_h'`).Scan(&failures, &since, &xmin), "health")
		return failures, since != nil, xmin
	}
	_, _, before := health()
	writeAttempts(t, db, attempt(schema.OutcomeSucceeded, 200), attempt(schema.OutcomeSucceeded, 204))
	if f, failing, after := health(); f != 0 || failing || after != before {
		t.Fatalf("after successes only: failures %d, failing %v, row rewritten %v; want 0, false, untouched", f, failing, after != before)
	}
	writeAttempts(t, db, attempt(schema.OutcomeRetrying, 503), attempt(schema.OutcomeRetrying, 503))
	if f, failing, _ := health(); f != 2 || !failing {
		t.Fatalf("after two failures: failures %d, failing %v; want 2, true", f, failing)
	}
	// In order within a batch: a failure after a success counts from 1.
	writeAttempts(t, db, attempt(schema.OutcomeSucceeded, 200), attempt(schema.OutcomeRetrying, 500))
	if f, failing, _ := health(); f != 1 || !failing {
		t.Fatalf("after a success then a failure: failures %d, failing %v; want 1, true", f, failing)
	}
	writeAttempts(t, db, attempt(schema.OutcomeSucceeded, 200))
	if f, failing, _ := health(); f != 0 || failing {
		t.Fatalf("after a success: failures %d, failing %v; want 0, false", f, failing)
	}
}

func TestDeliveriesOfEveryTenant(t *testing.T) {
	db := newTestDB(t)
	var batch []schema.Attempt
	for i, tenant := range []string{"acme", "globex", "acme"} {
		a := outcome(1, schema.OutcomeSucceeded, 200, true)
		a.Tenant, a.DeliveryID, a.EventID = tenant, "msg_"+strconv.Itoa(i), "evt_"+strconv.Itoa(i)
		a.EventCreatedAt = t0.Add(time.Duration(i) * time.Second)
		batch = append(batch, a)
	}
	writeAttempts(t, db, batch...)
	ctx := context.Background()

	none, err := db.Deliveries(ctx, schema.DeliveryFilter{Limit: 10})
	testenv.Must(t, err, "Deliveries")
	if len(none) != 0 {
		t.Errorf("an empty tenant without AllTenants found %d deliveries, want none", len(none))
	}
	all, err := db.Deliveries(ctx, schema.DeliveryFilter{AllTenants: true, Tenant: "acme", Limit: 10})
	testenv.Must(t, err, "Deliveries")
	var got []string
	for _, d := range all {
		got = append(got, d.Tenant+"/"+d.ID)
	}
	if want := "acme/msg_2 globex/msg_1 acme/msg_0"; strings.Join(got, " ") != want {
		t.Errorf("every tenant's deliveries = %q, want %q (newest first)", got, want)
	}
	page, err := db.Deliveries(ctx, schema.DeliveryFilter{AllTenants: true, Before: &schema.Cursor{CreatedAt: all[0].CreatedAt, ID: all[0].ID}, Limit: 1})
	testenv.Must(t, err, "Deliveries")
	if len(page) != 1 || page[0].ID != "msg_1" {
		t.Errorf("the page after %s = %+v, want msg_1", all[0].ID, page)
	}
}
