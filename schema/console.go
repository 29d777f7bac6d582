package schema

import "time"

// PortalSession is a session of a tenant's portal (package console),
// stored without its token.
type PortalSession struct {
	ID     string
	Tenant string
	Hash   []byte // of the token's secret part
	// Token is set only in what creates the session: it is shown once.
	Token     string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// EndpointStats is how an endpoint has fared lately, as the console shows
// it: its attempts since a time, their success rate and latency, its last
// failure, and its parked deliveries.
type EndpointStats struct {
	Attempts  int
	Succeeded int
	// Sampled says that only the latest attempts of the window were
	// counted (a busy endpoint's).
	Sampled  bool
	P50, P99 time.Duration
	// LastFailureAt is nil when the endpoint never failed.
	LastFailureAt     *time.Time
	LastFailureStatus int
	LastFailureError  string
	Parked            int
	// MoreParked says that more deliveries are parked than Parked counts.
	MoreParked bool
}
