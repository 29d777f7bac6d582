package schema

import "strconv"

// CheckFanout reports an event whose type matches more endpoints than one
// event may reach: matched is how many of the tenant's endpoints it
// matches (counting may stop at limit+1), limit the most allowed (0: no
// limit). The error is a *FieldError on "type", so it wraps
// ErrInvalidEvent: the API answers it 422, and the dispatcher sends such an
// event to the invalid topic with this reason.
func CheckFanout(matched, limit int) error {
	if limit <= 0 || matched <= limit {
		return nil
	}
	return &FieldError{Field: "type", Reason: "matches more than " + strconv.Itoa(limit) +
		" endpoints, the most one event may reach: narrow the endpoints' event_types or publish a more specific type"}
}
