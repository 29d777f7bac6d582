package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// disabledByFailures makes endpoint ep_p of the default tenant, disables
// it by the failure rule (one failed attempt), and parks a delivery of
// each given event on it, oldest first.
func disabledByFailures(t *testing.T, db testDB, rule schema.DisableRule, auto bool, events ...string) {
	t.Helper()
	ctx := context.Background()
	ne := newEndpoint("ep_p", schema.DefaultTenant)
	ne.AutoRecover = auto
	createEndpoint(t, db, ne)
	at := time.Now().Add(-time.Hour)
	fail := schema.Attempt{V: schema.Version, DeliveryID: "msg_fail", EndpointID: "ep_p", Tenant: schema.DefaultTenant,
		EventID: "evt_fail", EventType: "invoice.paid", EventCreatedAt: at, Attempt: 1, Outcome: schema.OutcomeRetrying,
		StatusCode: 503, Sent: true, At: at}
	testenv.Must(t, db.WriteAttempts(ctx, []schema.Attempt{fail}, rule, nil), "WriteAttempts")
	for i, id := range events {
		c := claim(schema.DefaultTenant, id, 0, int64(i))
		c.Event.CreatedAt = at.Add(time.Duration(i) * time.Minute)
		_, err := db.ClaimEvents(ctx, []schema.Claim{c})
		testenv.Must(t, err, "ClaimEvents")
		parked := schema.Attempt{V: schema.Version, DeliveryID: "msg_" + id, EndpointID: "ep_p", Tenant: schema.DefaultTenant,
			EventID: id, EventType: "invoice.paid", EventCreatedAt: c.Event.CreatedAt, Attempt: 1, Outcome: schema.OutcomeParked,
			At: c.Event.CreatedAt.Add(time.Second)}
		testenv.Must(t, db.WriteAttempts(ctx, []schema.Attempt{parked}, rule, nil), "WriteAttempts parked")
	}
}

// One instance probes an endpoint at a time: a claim holds it while the
// probe is queued, and moves its next probe on by the schedule.
func TestClaimProbeOnceAtATime(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	rule := schema.DisableRule{Failures: 1, Probes: schema.ProbeSchedule{First: time.Millisecond, Max: time.Hour}}
	disabledByFailures(t, db, rule, true, "evt_a", "evt_b")
	ep, err := db.Endpoint(ctx, schema.DefaultTenant, "ep_p")
	testenv.Must(t, err, "Endpoint")
	if !ep.Probed() || ep.NextProbeAt.IsZero() {
		t.Fatalf("endpoint disabled by the rule = %+v, want probed, with a next probe", ep)
	}

	schedule := schema.ProbeSchedule{First: time.Minute, Max: time.Hour}
	inside, release := make(chan struct{}), make(chan struct{})
	type result struct {
		task schema.Task
		ok   bool
		err  error
	}
	first := make(chan result, 1)
	go func() {
		var r result
		_, r.ok, r.err = db.ClaimProbe(ctx, schedule, func(_ context.Context, task schema.Task) error {
			r.task = task
			close(inside)
			<-release
			return nil
		})
		first <- r
	}()
	<-inside
	// While the first claim queues its probe, a second finds nothing.
	_, ok, err := db.ClaimProbe(ctx, schedule, func(context.Context, schema.Task) error {
		t.Error("a second probe was claimed while the first was being queued")
		return nil
	})
	testenv.Must(t, err, "second ClaimProbe")
	if ok {
		t.Error("a second claim succeeded while the first held the endpoint")
	}
	close(release)
	r := <-first
	testenv.Must(t, r.err, "first ClaimProbe")
	if !r.ok || !r.task.Probe || r.task.Event.ID != "evt_a" || r.task.Attempt != 1 || r.task.EndpointVersion.IsZero() {
		t.Fatalf("first claim = %+v (ok %v), want a probe of the oldest parked delivery, evt_a, attempt 1", r.task, r.ok)
	}
	// Claimed: not due again until the schedule's wait after one probe.
	_, ok, err = db.ClaimProbe(ctx, schedule, func(context.Context, schema.Task) error { return nil })
	testenv.Must(t, err, "third ClaimProbe")
	if ok {
		t.Error("a probe was claimed again before its next due time")
	}
	ep, err = db.Endpoint(ctx, schema.DefaultTenant, "ep_p")
	testenv.Must(t, err, "Endpoint")
	if ep.Probes != 1 || time.Until(ep.NextProbeAt) < time.Minute || time.Until(ep.NextProbeAt) > 2*time.Minute+time.Second {
		t.Errorf("after one probe: %d probes, next at %v; want 1, in about 2 minutes", ep.Probes, ep.NextProbeAt)
	}
	ds, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: schema.DefaultTenant, ID: "msg_evt_a", Limit: 1})
	testenv.Must(t, err, "Deliveries")
	if len(ds) != 1 || ds[0].Status != string(schema.OutcomeRetrying) {
		t.Errorf("probed delivery is %+v, want retrying", ds)
	}
}

// An endpoint with automatic recovery off, or paused, is not probed.
func TestClaimProbeSkipsOptedOutAndPaused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		auto  bool
		pause bool
	}{{"opted out", false, false}, {"paused", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			ctx := context.Background()
			rule := schema.DisableRule{Failures: 1, Probes: schema.ProbeSchedule{First: time.Millisecond, Max: time.Hour}}
			disabledByFailures(t, db, rule, tc.auto, "evt_a")
			if tc.pause {
				_, err := db.PauseEndpoint(ctx, schema.DefaultTenant, "ep_p", time.Time{})
				testenv.Must(t, err, "PauseEndpoint")
			}
			_, ok, err := db.ClaimProbe(ctx, schema.DefaultProbes, func(context.Context, schema.Task) error { return nil })
			testenv.Must(t, err, "ClaimProbe")
			if ok {
				t.Error("a probe was claimed")
			}
		})
	}
}

// A probe that succeeds re-enables the endpoint in the sink's write,
// clears its probes and reports the change; one answered 410 ends the
// probing.
func TestWriteAttemptsProbeOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		outcome   schema.Outcome
		code      int
		state     string
		cause     string
		announced bool
	}{
		{"2xx re-enables", schema.OutcomeSucceeded, 200, schema.EndpointEnabled, "", true},
		{"5xx keeps it disabled", schema.OutcomeParked, 503, schema.EndpointDisabled, schema.DisabledByFailures, false},
		{"410 ends the probing", schema.OutcomeParked, 410, schema.EndpointDisabled, schema.DisabledByGone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			ctx := context.Background()
			rule := schema.DisableRule{Failures: 1, Probes: schema.ProbeSchedule{First: time.Millisecond, Max: time.Hour}}
			disabledByFailures(t, db, rule, true, "evt_a")
			var task schema.Task
			_, ok, err := db.ClaimProbe(ctx, rule.Probes, func(_ context.Context, tk schema.Task) error { task = tk; return nil })
			testenv.Must(t, err, "ClaimProbe")
			if !ok {
				t.Fatal("no probe claimed")
			}
			a := schema.Attempt{V: schema.Version, DeliveryID: task.DeliveryID, EndpointID: "ep_p", Tenant: schema.DefaultTenant,
				EventID: task.Event.ID, EventType: task.Event.Type, EventCreatedAt: task.Event.CreatedAt, Attempt: task.Attempt,
				Outcome: tc.outcome, StatusCode: tc.code, Sent: true, Probe: true, At: time.Now()}
			var changes []schema.EndpointChange
			testenv.Must(t, db.WriteAttempts(ctx, []schema.Attempt{a}, rule, func(_ context.Context, c []schema.EndpointChange) error {
				changes = append(changes, c...)
				return nil
			}), "WriteAttempts")
			ep, err := db.Endpoint(ctx, schema.DefaultTenant, "ep_p")
			testenv.Must(t, err, "Endpoint")
			if ep.State != tc.state || ep.DisabledCause != tc.cause {
				t.Errorf("endpoint %s, cause %q; want %s, %q", ep.State, ep.DisabledCause, tc.state, tc.cause)
			}
			if tc.announced != (len(changes) == 1 && changes[0].State == schema.EndpointEnabled && changes[0].Probes == 1) {
				t.Errorf("changes reported %+v, announced want %v", changes, tc.announced)
			}
			if tc.state == schema.EndpointEnabled && (ep.Probes != 0 || !ep.NextProbeAt.IsZero() || ep.DisabledReason != "") {
				t.Errorf("re-enabled endpoint keeps %d probes, next %v, reason %q", ep.Probes, ep.NextProbeAt, ep.DisabledReason)
			}
			if tc.cause == schema.DisabledByGone && ep.Probed() {
				t.Error("an endpoint whose probe answered 410 is still probed")
			}
		})
	}
}
