package schema

import (
	"strconv"
	"time"
)

// OrderRequest asks for the sequence number of one delivery to an ordered
// endpoint (see docs/ordering.md).
type OrderRequest struct {
	DeliveryID string
	EndpointID string
	Key        string
	Tenant     string
	EventID    string
	EventType  string
}

// OrderPlace is a delivery's place in its key (see docs/ordering.md), as
// the dispatcher fans it out.
type OrderPlace struct {
	Seq int64
	// Held: the delivery waits in Postgres, and no task is made of it: it
	// is later than the head of its key (blocked at birth: its task is
	// rebuilt when the delivery before it is resolved), or, read again
	// after a crash, released or resolved already.
	Held bool
	// Blocked: held and waiting behind WaitingFor, the head of its key;
	// shown blocked in history.
	Blocked    bool
	WaitingFor string
}

// ReleaseTag names the task whose resolution released a delivery: only
// that task, read again after a crash, releases it again (see
// postgres.DB.AcquireOrdered).
func ReleaseTag(deliveryID string, attempt int) string {
	return deliveryID + "/" + strconv.Itoa(attempt)
}

// Verdict is the ordering gate's answer for a task.
type Verdict int

// Verdicts of the ordering gate.
const (
	// Unordered: the delivery has no place in an order (the endpoint did
	// not ask for one when it was fanned out): send it.
	Unordered Verdict = iota
	// Head: the delivery is the earliest unresolved one of its key: send
	// it.
	Head
	// Blocked: an earlier delivery of its key is unresolved: do not send;
	// it is released when its turn comes.
	Blocked
	// Resolved: the delivery was resolved already (a manual retry, a
	// replay, a copy read again after a crash): send it out of order.
	Resolved
)

// Gate is the ordering gate's answer for a task: the verdict, the
// delivery's place in its key, what a blocked one waits for, and a task to
// produce again (Resolved after a crash that may have lost it).
type Gate struct {
	Verdict    Verdict
	Key        string
	Seq        int64
	WaitingFor string
	Release    *Task
}

// Resolution is what resolving the head of a key releases: the next
// delivery's task when it was blocked, and the blocked deliveries passed
// over because their events were removed (by retention) meanwhile.
type Resolution struct {
	Release *Task
	Gone    []Task
	// Halted is true when the key stopped at its dead head.
	Halted bool
}

// HaltedKey is an ordering key stopped at a dead head.
type HaltedKey struct {
	EndpointID string
	Key        string
	// Head is the delivery the key stops at, Seq its number.
	Head     string
	Seq      int64
	HaltedAt time.Time
	// Blocked counts the deliveries of the key waiting behind the head.
	Blocked int
}

// OrderingStats sums up ordered delivery for metrics.
type OrderingStats struct {
	Blocked    int64
	HaltedKeys int64
	// OldestHalt is how long the longest-halted key has been halted.
	OldestHalt time.Duration
	// OldestStall is how long the longest-stalled key has been stalled: a
	// key of a sendable endpoint, not halted, with deliveries blocked
	// behind a head that has been neither resolved nor waiting for a
	// retry due later (a head whose task was lost or quarantined, or a
	// retry tier that does not run). Keys whose head became head less
	// than StallGrace ago are not looked at.
	OldestStall time.Duration
	// StalledEndpoint, StalledHead and StalledSeq name the longest-stalled
	// key's endpoint, head delivery (empty if its number has no delivery
	// here) and the head's number, for the log (empty: none).
	StalledEndpoint, StalledHead string
	StalledSeq                   int64
}

// StallGrace is how long a key's head may be head before OrderingStats
// looks at whether its key is stalled: an attempt, its timeout and its
// outcome's way to Postgres take less.
const StallGrace = time.Minute

// ErrNotHead refuses to skip a delivery that is not the head of its key,
// or that is being retried.
var ErrNotHead = &Error{EConflict, "the delivery is not a halted or stuck head of its ordering key"}

// ErrOrderingReleasing refuses to make an endpoint ordered again while its
// previous ordering is still being wound down: the deliveries that were
// blocked when it was switched off sent, its keys forgotten.
var ErrOrderingReleasing = &Error{EConflict, "the endpoint's previous ordering is still being wound down (deliveries that were blocked are being sent, its keys forgotten); try again in a few minutes"}
