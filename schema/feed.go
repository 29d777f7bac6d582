package schema

import "time"

// FeedAttempt is an attempt as a feed of a tenant's attempts shows it: with
// its delivery's event.
type FeedAttempt struct {
	DeliveryID    string
	Attempt       int
	EndpointID    string
	EventID       string
	EventType     string
	Outcome       string
	StatusCode    int
	Error         string
	LatencyMicros int64
	At            time.Time
}

// FeedCursor is the position of an attempt in the feed.
type FeedCursor struct {
	At         time.Time
	DeliveryID string
	Attempt    int
}

// FeedFilter selects a tenant's attempts made in [Since, Until) (Until
// nil: no bound), oldest first; empty fields match all. After continues a
// listing after the last attempt of the previous page.
type FeedFilter struct {
	Tenant     string
	EndpointID string
	Outcome    string
	Since      time.Time
	Until      *time.Time
	After      *FeedCursor
	Limit      int
}
