package schema

import (
	"net/http"
	"strconv"
	"time"
)

// DisableRule says when an endpoint that keeps failing is disabled: after
// Failures consecutive failed attempts, the first of them at least
// MinFailing ago (Failures 0: never). A 410 Gone disables at once. Probes
// says when an endpoint the rule disabled is probed.
type DisableRule struct {
	Failures   int
	MinFailing time.Duration
	Probes     ProbeSchedule
}

// EndpointHealth is an endpoint's failure state: its state, how many
// attempts in a row failed, and when the first of them was made (nil when
// none failed); while disabled, why (Cause, a DisabledBy… value), and
// whether probes may re-enable it (AutoRecover).
type EndpointHealth struct {
	State        string
	Failures     int
	FailingSince *time.Time
	Cause        string
	AutoRecover  bool
}

// Observe is the rule: it returns h after the sent attempt a, and why the
// endpoint is disabled now ("" when it is not). A success clears the
// failures; a failure counts one more, and disables an enabled endpoint
// that answered 410 Gone, or that has failed r.Failures times in a row
// over at least r.MinFailing. A disabled endpoint stays so and keeps
// counting, with two exceptions for a probe (a.Probe): one that succeeds
// re-enables an endpoint the rule disabled, if AutoRecover allows; one
// answered 410 Gone makes its cause "gone", which is never probed again.
// People enable endpoints whatever disabled them.
func (r DisableRule) Observe(h EndpointHealth, a Attempt) (EndpointHealth, string) {
	if a.Outcome == OutcomeSucceeded {
		h.Failures, h.FailingSince = 0, nil
		if a.Probe && h.State == EndpointDisabled && h.Cause == DisabledByFailures && h.AutoRecover {
			h.State, h.Cause = EndpointEnabled, ""
		}
		return h, ""
	}
	h.Failures++
	if h.FailingSince == nil {
		at := a.At
		h.FailingSince = &at
	}
	if h.State != EndpointEnabled {
		if a.Probe && a.StatusCode == http.StatusGone && h.Cause == DisabledByFailures {
			h.Cause = DisabledByGone
		}
		return h, ""
	}
	var reason string
	switch {
	case a.StatusCode == http.StatusGone:
		reason, h.Cause = "endpoint answered 410 Gone", DisabledByGone
	case r.Failures > 0 && h.Failures >= r.Failures && a.At.Sub(*h.FailingSince) >= r.MinFailing:
		reason, h.Cause = strconv.Itoa(h.Failures)+" consecutive failed attempts since "+h.FailingSince.UTC().Format(time.RFC3339),
			DisabledByFailures
	default:
		return h, ""
	}
	h.State = EndpointDisabled
	return h, reason
}

// ProbeSchedule says when an endpoint disabled by the failure rule is
// probed: First after it was disabled, then each wait twice the one
// before, up to Max.
type ProbeSchedule struct {
	First, Max time.Duration
}

// DefaultProbes is the default probe schedule: 1 minute, doubling to 6 hours.
var DefaultProbes = ProbeSchedule{First: time.Minute, Max: 6 * time.Hour}

// Wait returns how long to wait before the probe that follows probes
// probes already sent (0 for the first).
func (s ProbeSchedule) Wait(probes int) time.Duration {
	w := s.First
	for range min(max(probes, 0), 62) {
		if w >= s.Max/2 {
			return s.Max
		}
		w *= 2
	}
	return min(w, s.Max)
}
