package schema

import "time"

// Delivery is the state of the delivery of one event to one endpoint. Its
// Status is the Outcome of its latest attempt.
type Delivery struct {
	ID             string
	Tenant         string
	EndpointID     string
	EventID        string
	EventType      string
	Status         string
	Attempts       int
	LastStatusCode int
	LastError      string
	NextAttemptAt  *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// OrderingKey and Sequence place a delivery to an ordered endpoint in
	// its key's order; WaitingFor names the delivery a blocked one waits
	// for.
	OrderingKey string
	Sequence    int64
	WaitingFor  string
}

// Cursor is the position of a row in a listing ordered by creation time,
// then id: deliveries, events, parked deliveries, a job's progress.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// DeliveryFilter selects deliveries of a tenant; empty fields match all.
// Results come newest first; Before continues a listing after the last
// delivery of the previous page.
type DeliveryFilter struct {
	Tenant string
	// AllTenants searches every tenant's deliveries (an operator's
	// search); Tenant is ignored. Without it, an empty Tenant finds none.
	AllTenants bool
	ID         string
	EndpointID string
	EventID    string
	EventType  string
	Status     string
	// Since and Until bound created_at: Since <= created_at < Until.
	Since, Until *time.Time
	Before       *Cursor
	Limit        int
}

// AttemptRecord is one attempt in a delivery's history, as stored.
type AttemptRecord struct {
	Attempt       int
	Outcome       string
	StatusCode    int
	Error         string
	LatencyMicros int64
	ResponseBody  string
	// ResponseBase64 says that ResponseBody is the base64 of the bytes.
	ResponseBase64 bool
	Truncated      bool
	At             time.Time
}
