package delivery

import "strconv"

// Verdict is what an attempt's Result means for its delivery.
type Verdict int

// Verdicts, as Classify returns them.
const (
	// Succeeded: the receiver took the webhook (2xx). Done.
	Succeeded Verdict = iota + 1
	// Retry: try again later, from the next retry tier.
	Retry
	// Gone: the receiver answered 410 Gone; disable the endpoint now.
	Gone
)

// String returns "succeeded", "retry" or "gone".
func (v Verdict) String() string {
	switch v {
	case Succeeded:
		return "succeeded"
	case Retry:
		return "retry"
	case Gone:
		return "gone"
	default:
		return "Verdict(" + strconv.Itoa(int(v)) + ")"
	}
}

// Classify is the one place that decides what an attempt's Result means.
//
//   - 2xx: Succeeded.
//   - 410 Gone: Gone; the receiver asks to stop, the endpoint is disabled.
//   - Everything else is Retry: 1xx; 3xx, since redirects are not followed;
//     408, 425, 429 and 5xx; other 4xx, since receivers misconfigure and fix
//     things; and every transport error: timeouts, connection failures,
//     TLS failures and forbidden targets (a DNS answer can change).
//
// Deliveries that keep failing end dead when the Schedule runs out, and
// endpoints that keep failing are disabled by their failure count; neither
// is decided here.
func Classify(r Result) Verdict {
	switch {
	case r.StatusCode >= 200 && r.StatusCode <= 299:
		return Succeeded
	case r.StatusCode == 410:
		return Gone
	default:
		return Retry
	}
}

// StatusClass returns a bounded label for metrics: "1xx" to "5xx" for a
// response, the ErrClass ("timeout", "connection", …) when StatusCode is 0,
// and "other" for anything else.
func StatusClass(r Result) string {
	if r.StatusCode == 0 {
		if r.ErrClass == "" {
			return string(ErrClassOther)
		}
		return string(r.ErrClass)
	}
	switch r.StatusCode / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	default:
		return "other"
	}
}
