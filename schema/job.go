package schema

import "time"

// Job states.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobRecover is the kind of job that re-sends an endpoint's failed
// deliveries.
const JobRecover = "recover"

// Job is a long operation and its progress.
type Job struct {
	ID         string
	Tenant     string
	Kind       string
	EndpointID string
	Since      time.Time
	Until      time.Time
	Status     string
	Total      int
	Done       int
	Failed     int
	// Skipped counts deliveries left to their retry schedule: their next
	// attempt was pending.
	Skipped    int
	Error      string
	Cursor     *Cursor // the last delivery handled
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// RecoverResult is what one batch of a recovery job did.
type RecoverResult struct {
	// Done counts the deliveries sent again, Failed those whose event is
	// gone, Skipped those whose next attempt was pending (still retrying).
	Done, Failed, Skipped int
	// Cursor is the last delivery of the batch; nil when the job had none
	// left.
	Cursor *Cursor
}
