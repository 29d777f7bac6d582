package schema

import (
	"fmt"
	"time"
)

// Version is the version of the Task and Attempt messages this build writes.
const Version = 1

// Record headers hookstream sets.
const (
	// HeaderDue carries a retry task's due time, unix milliseconds.
	HeaderDue = "hookstream-due"
	// HeaderError carries the reason a record was sent to an invalid or
	// dead topic.
	HeaderError = "hookstream-error"
	// HeaderSource names the topic/partition/offset an event was first
	// published at, on its copies in the invalid topic and the bulk lane.
	HeaderSource = "hookstream-source"
	// HeaderSourceID names the source (schema.Source) whose rules a
	// record in the invalid topic did not fit.
	HeaderSourceID = "hookstream-source-id"
)

// Task asks for one attempt of one delivery: the event, sent to the endpoint.
// The deliverer and every retry tier consume tasks; the dispatcher and the
// API produce them, keyed by endpoint id.
type Task struct {
	V          int    `json:"v"`
	DeliveryID string `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
	// Attempt is the number of the attempt this task makes, from 1.
	Attempt int `json:"attempt"`
	// Tier is the retry tier the task waits in, from 1; 0 for a task that
	// does not wait (a first attempt, a manual retry, a replay).
	Tier int `json:"tier,omitempty"`
	// EndpointVersion, when set, is the endpoint's updated_at when the task
	// was made (a replay after enabling it): a deliverer whose copy of the
	// endpoint is older reads it again before deciding to park the task.
	EndpointVersion time.Time `json:"endpoint_version,omitzero"`
	// Order is set on the tasks the dispatcher makes for an endpoint that
	// asks for ordered delivery: the key and the delivery's number in it.
	Order *TaskOrder `json:"order,omitempty"`
	// Probe asks for the attempt even though the endpoint is disabled: a
	// probe of an endpoint the failure rule disabled (see
	// Endpoint.Probed). Its failure is not retried: the delivery parks
	// again until the next probe.
	Probe bool  `json:"probe,omitempty"`
	Event Event `json:"event"`
}

// TaskOrder places a delivery in its key's order (see docs/ordering.md).
type TaskOrder struct {
	Key string `json:"key"`
	Seq int64  `json:"seq"`
}

// NewTask is the first task of the delivery of ev to endpointID.
func NewTask(ev Event, endpointID string) Task {
	return Task{
		V:          Version,
		DeliveryID: DeliveryID(ev.Tenant, ev.ID, endpointID),
		EndpointID: endpointID,
		Attempt:    1,
		Event:      ev,
	}
}

// DecodeTask parses a task record value.
func DecodeTask(b []byte) (Task, error) {
	var t Task
	if err := unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("decode task: %w", err)
	}
	switch {
	case t.V < 1 || t.V > Version:
		return t, fmt.Errorf("decode task: unsupported version %d", t.V)
	case t.DeliveryID == "" || t.EndpointID == "" || t.Event.ID == "":
		return t, fmt.Errorf("decode task: missing delivery, endpoint or event id")
	case t.Attempt < 1:
		return t, fmt.Errorf("decode task: attempt %d", t.Attempt)
	case t.Order != nil && (t.Order.Seq < 1 || t.Order.Key == "" || len(t.Order.Key) > MaxOrderingKeyLen):
		return t, fmt.Errorf("decode task: bad order (sequence %d, key of %d bytes)", t.Order.Seq, len(t.Order.Key))
	}
	return t, nil
}

// Outcome is what became of an attempt.
type Outcome string

// Outcomes of an attempt, which are also the states of a delivery.
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeRetrying  Outcome = "retrying"
	OutcomeDead      Outcome = "dead"
	OutcomeParked    Outcome = "parked"
	// OutcomeBlocked: not sent, waiting for an earlier delivery of its
	// ordering key (Attempt.WaitingFor) to be resolved.
	OutcomeBlocked Outcome = "blocked"
)

// Attempt is the record of one attempt (or of a task parked without one),
// produced to the attempts topic keyed by endpoint id and written to
// Postgres by the sink.
type Attempt struct {
	V              int       `json:"v"`
	DeliveryID     string    `json:"delivery_id"`
	EndpointID     string    `json:"endpoint_id"`
	Tenant         string    `json:"tenant"`
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	EventCreatedAt time.Time `json:"event_created_at"`
	Attempt        int       `json:"attempt"`
	Outcome        Outcome   `json:"outcome"`
	// StatusCode is 0 when no response arrived (or nothing was sent).
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
	// Latency of the request, microseconds.
	LatencyMicros int64 `json:"latency_us"`
	// ResponseBody is the receiver's answer body (truncated), as text, or
	// as the base64 of its bytes when ResponseBase64 (binary, NUL, not
	// UTF-8): see TextOrBase64.
	ResponseBody   string `json:"response_body,omitempty"`
	ResponseBase64 bool   `json:"response_body_base64,omitempty"`
	Truncated      bool   `json:"response_truncated,omitempty"`
	// Sent is false when no request was made (a parked task).
	Sent bool `json:"sent"`
	// Probe marks the attempt of a probe of a disabled endpoint (see
	// Task.Probe): the failure rule re-enables the endpoint when it
	// succeeds.
	Probe         bool       `json:"probe,omitempty"`
	At            time.Time  `json:"at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// OrderingKey and Seq place the delivery in its key's order, on an
	// endpoint that asks for order; WaitingFor names the delivery a
	// blocked one waits for.
	OrderingKey string `json:"ordering_key,omitempty"`
	Seq         int64  `json:"seq,omitempty"`
	WaitingFor  string `json:"waiting_for,omitempty"`
}

// EncodeAttempt returns the record value of an attempt. It cannot fail:
// an Attempt holds strings, numbers and times of years 0 to 9999.
func EncodeAttempt(a Attempt) []byte {
	b, _ := marshal(a)
	return b
}

// DecodeAttempt parses an attempt record value.
func DecodeAttempt(b []byte) (Attempt, error) {
	var a Attempt
	if err := unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("decode attempt: %w", err)
	}
	if a.V < 1 || a.V > Version {
		return a, fmt.Errorf("decode attempt: unsupported version %d", a.V)
	}
	if a.DeliveryID == "" || a.EndpointID == "" || a.Attempt < 0 {
		return a, fmt.Errorf("decode attempt: missing delivery or endpoint id")
	}
	return a, nil
}

// Clean returns a with its texts safe to store whoever wrote the record: an
// error as CleanText, a response body that is not clean text as base64.
func (a Attempt) Clean() Attempt {
	a.Error = CleanText(a.Error)
	if !a.ResponseBase64 && CleanText(a.ResponseBody) != a.ResponseBody {
		a.ResponseBody, a.ResponseBase64 = TextOrBase64([]byte(a.ResponseBody), false)
	}
	return a
}
