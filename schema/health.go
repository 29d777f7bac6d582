package schema

import (
	"net/http"
	"strconv"
	"time"
)

// DisableRule says when an endpoint that keeps failing is disabled: after
// Failures consecutive failed attempts, the first of them at least
// MinFailing ago (Failures 0: never). A 410 Gone disables at once.
type DisableRule struct {
	Failures   int
	MinFailing time.Duration
}

// EndpointHealth is an endpoint's failure state: its state, how many
// attempts in a row failed, and when the first of them was made (nil when
// none failed).
type EndpointHealth struct {
	State        string
	Failures     int
	FailingSince *time.Time
}

// Observe is the rule: it returns h after the sent attempt a, and why the
// endpoint is disabled now ("" when it is not). A success clears the
// failures; a failure counts one more, and disables an enabled endpoint
// that answered 410 Gone, or that has failed r.Failures times in a row
// over at least r.MinFailing. A disabled endpoint stays so (only people
// enable endpoints), and keeps counting.
func (r DisableRule) Observe(h EndpointHealth, a Attempt) (EndpointHealth, string) {
	if a.Outcome == OutcomeSucceeded {
		h.Failures, h.FailingSince = 0, nil
		return h, ""
	}
	h.Failures++
	if h.FailingSince == nil {
		at := a.At
		h.FailingSince = &at
	}
	if h.State != EndpointEnabled {
		return h, ""
	}
	var reason string
	switch {
	case a.StatusCode == http.StatusGone:
		reason = "endpoint answered 410 Gone"
	case r.Failures > 0 && h.Failures >= r.Failures && a.At.Sub(*h.FailingSince) >= r.MinFailing:
		reason = strconv.Itoa(h.Failures) + " consecutive failed attempts since " + h.FailingSince.UTC().Format(time.RFC3339)
	default:
		return h, ""
	}
	h.State = EndpointDisabled
	return h, reason
}
