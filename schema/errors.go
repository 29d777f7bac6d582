package schema

import (
	"errors"
	"fmt"
)

// Error codes say what kind of failure an error is, whichever adapter
// returned it, so that a caller answers it (the API with an HTTP status, a
// stage by retrying or not) without knowing where it came from.
const (
	// EInternal is every error that carries no code: an outage or a bug.
	EInternal = "internal"
	// ENotFound: the thing does not exist (or is another tenant's: the two
	// are not told apart).
	ENotFound = "not_found"
	// EConflict: the thing's state forbids the operation now (it exists
	// already, is being retried, was re-driven already, ...).
	EConflict = "conflict"
	// EGone: something the operation needs no longer exists.
	EGone = "gone"
	// ELimit: the operation would pass a limit.
	ELimit = "limit"
	// EInvalid: the data is refused; sending it again never helps.
	EInvalid = "invalid"
)

// Error is a domain error: a code for programs and a message for people.
// The sentinel errors below are *Error values, compared with errors.Is;
// ErrorCode reads the code of any error that wraps one.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain: "" for
// nil, EInternal for an error without one.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EInternal
}

// Errors the stores return, matched with errors.Is.
var (
	// ErrNotFound: a row does not exist (or belongs to another tenant: the
	// two are not told apart).
	ErrNotFound = &Error{ENotFound, "not found"}
	// ErrConflict: a row to create already exists.
	ErrConflict = &Error{EConflict, "already exists"}
	// ErrLimitReached: creating a row would pass a limit, such as
	// NewEndpoint.MaxPerTenant.
	ErrLimitReached = &Error{ELimit, "limit reached"}
	// ErrRetrying: the delivery is being retried: the task of its next
	// attempt is queued or waits in a retry tier, and the deliverer numbers
	// every attempt after it. A second task would start a second chain with
	// the same attempt numbers, whose outcomes the history, keyed by
	// attempt number, cannot both keep.
	ErrRetrying = &Error{EConflict, "the delivery is being retried on its schedule"}
	// ErrEventGone: a delivery's event is no longer stored (retention
	// removed it), so it cannot be sent again.
	ErrEventGone = &Error{EGone, "the delivery's event is no longer stored"}
	// ErrEndpointGone: a delivery's endpoint was deleted, so it cannot be
	// sent again.
	ErrEndpointGone = &Error{EGone, "the delivery's endpoint was deleted"}
	// ErrRedriven: a quarantined record was put back already.
	ErrRedriven = &Error{EConflict, "the record was re-driven already"}
	// ErrNotRedrivable: a quarantined record's original topic is not one a
	// stage of this deployment reads: it has nowhere to go back to.
	ErrNotRedrivable = &Error{EInvalid, "the record did not come from a topic this deployment's stages read"}
	// ErrInvalidData is wrapped by a store's errors that blame the data,
	// not the store: a value it cannot hold (a NUL in text, bytes that are
	// not UTF-8, a number out of range, JSON nested too deep) or a
	// constraint it breaks. Retrying the same data never helps, unlike an
	// outage.
	ErrInvalidData = &Error{EInvalid, "data refused by the store"}
	// ErrInvalidEvent is wrapped by every validation error of an event
	// (each a *FieldError).
	ErrInvalidEvent = &Error{EInvalid, "invalid event"}
)
