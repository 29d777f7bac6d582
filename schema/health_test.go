package schema_test

import (
	"testing"
	"time"

	"github.com/hookstream/hookstream/schema"
)

func TestDisableRuleObserve(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	rule := schema.DisableRule{Failures: 3, MinFailing: time.Hour}
	enabled := func(failures int, since *time.Time) schema.EndpointHealth {
		return schema.EndpointHealth{State: schema.EndpointEnabled, Failures: failures, FailingSince: since}
	}
	byRule := func(failures int, auto bool) schema.EndpointHealth {
		return schema.EndpointHealth{State: schema.EndpointDisabled, Failures: failures, FailingSince: at(0),
			Cause: schema.DisabledByFailures, AutoRecover: auto}
	}
	probe := func(code int) schema.Attempt {
		o := schema.OutcomeParked
		if code < 300 {
			o = schema.OutcomeSucceeded
		}
		return schema.Attempt{Outcome: o, StatusCode: code, Probe: true, Sent: true, At: t0.Add(3 * time.Hour)}
	}
	failed := func(d time.Duration, code int) schema.Attempt {
		return schema.Attempt{Outcome: schema.OutcomeRetrying, StatusCode: code, At: t0.Add(d)}
	}
	for _, tc := range []struct {
		name   string
		rule   schema.DisableRule
		before schema.EndpointHealth
		a      schema.Attempt
		after  schema.EndpointHealth
		reason string
	}{
		{"first failure starts the count", rule, enabled(0, nil), failed(0, 500),
			enabled(1, at(0)), ""},
		{"success clears the count", rule, enabled(2, at(0)),
			schema.Attempt{Outcome: schema.OutcomeSucceeded, StatusCode: 200, At: t0.Add(time.Minute)},
			enabled(0, nil), ""},
		{"enough failures, too soon", rule, enabled(2, at(0)), failed(59*time.Minute, 500),
			enabled(3, at(0)), ""},
		{"enough failures over long enough", rule, enabled(2, at(0)), failed(time.Hour, 503),
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 3, FailingSince: at(0), Cause: schema.DisabledByFailures},
			"3 consecutive failed attempts since 2026-12-01T10:00:00Z"},
		{"long enough, too few failures", rule, enabled(1, at(0)), failed(48*time.Hour, 0),
			enabled(2, at(0)), ""},
		{"410 disables at once", rule, enabled(0, nil), failed(0, 410),
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 1, FailingSince: at(0), Cause: schema.DisabledByGone},
			"endpoint answered 410 Gone"},
		{"410 disables with the rule off", schema.DisableRule{}, enabled(5, at(0)), failed(time.Hour, 410),
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 6, FailingSince: at(0), Cause: schema.DisabledByGone},
			"endpoint answered 410 Gone"},
		{"rule off: failures only count", schema.DisableRule{}, enabled(99, at(0)), failed(100*time.Hour, 500),
			enabled(100, at(0)), ""},
		{"a disabled endpoint keeps counting, is not disabled again", rule,
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 7, FailingSince: at(0)}, failed(2*time.Hour, 410),
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 8, FailingSince: at(0)}, ""},
		{"a dead attempt is a failure", rule, enabled(2, at(0)),
			schema.Attempt{Outcome: schema.OutcomeDead, StatusCode: 500, At: t0.Add(2 * time.Hour)},
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 3, FailingSince: at(0), Cause: schema.DisabledByFailures},
			"3 consecutive failed attempts since 2026-12-01T10:00:00Z"},
		{"a probe that succeeds re-enables an endpoint the rule disabled", rule, byRule(9, true), probe(200),
			enabled(0, nil), ""},
		{"a probe that succeeds leaves an opted-out endpoint disabled", rule, byRule(9, false), probe(200),
			schema.EndpointHealth{State: schema.EndpointDisabled, Cause: schema.DisabledByFailures}, ""},
		{"a probe never re-enables an endpoint disabled by hand", rule,
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 1, FailingSince: at(0), Cause: schema.DisabledByHand, AutoRecover: true},
			probe(200), schema.EndpointHealth{State: schema.EndpointDisabled, Cause: schema.DisabledByHand}, ""},
		{"a success that is not a probe leaves a disabled endpoint disabled", rule, byRule(9, true),
			schema.Attempt{Outcome: schema.OutcomeSucceeded, StatusCode: 200, At: t0.Add(2 * time.Hour)},
			schema.EndpointHealth{State: schema.EndpointDisabled, Cause: schema.DisabledByFailures}, ""},
		{"a failed probe keeps counting", rule, byRule(9, true), probe(503),
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 10, FailingSince: at(0), Cause: schema.DisabledByFailures}, ""},
		{"a probe answered 410 ends the probing", rule, byRule(9, true), probe(410),
			schema.EndpointHealth{State: schema.EndpointDisabled, Failures: 10, FailingSince: at(0), Cause: schema.DisabledByGone}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after, reason := tc.rule.Observe(tc.before, tc.a)
			if reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
			if after.State != tc.after.State || after.Failures != tc.after.Failures || after.Cause != tc.after.Cause ||
				!equalTime(after.FailingSince, tc.after.FailingSince) {
				t.Errorf("health %+v (since %v), want %+v (since %v)", after, after.FailingSince, tc.after, tc.after.FailingSince)
			}
		})
	}
}

func TestDisableRuleObserveDoesNotAlias(t *testing.T) {
	// The health returned owns its FailingSince: the attempt's time is
	// copied, not pointed at.
	a := schema.Attempt{Outcome: schema.OutcomeRetrying, At: time.Unix(100, 0)}
	h, _ := schema.DisableRule{}.Observe(schema.EndpointHealth{State: schema.EndpointEnabled}, a)
	a.At = time.Unix(200, 0)
	if !h.FailingSince.Equal(time.Unix(100, 0)) {
		t.Fatalf("FailingSince %v changed with the attempt", h.FailingSince)
	}
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestProbeScheduleWait(t *testing.T) {
	s := schema.DefaultProbes
	for _, tc := range []struct {
		probes int
		want   time.Duration
	}{
		{0, time.Minute}, {1, 2 * time.Minute}, {2, 4 * time.Minute}, {8, 256 * time.Minute},
		{9, 6 * time.Hour}, {10, 6 * time.Hour}, {1 << 30, 6 * time.Hour}, {-1, time.Minute},
	} {
		if got := s.Wait(tc.probes); got != tc.want {
			t.Errorf("Wait(%d) = %v, want %v", tc.probes, got, tc.want)
		}
	}
	if got := (schema.ProbeSchedule{First: 10 * time.Second, Max: 15 * time.Second}).Wait(1); got != 15*time.Second {
		t.Errorf("Wait past Max = %v, want Max", got)
	}
}
