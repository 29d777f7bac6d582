package pipeline

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// ResumeStore is what the Resumer reads and writes (see postgres.DB).
type ResumeStore interface {
	EndPauses(ctx context.Context) ([]schema.Endpoint, error)
	StrandedEndpoints(ctx context.Context, settled time.Duration, limit int) ([]schema.Endpoint, error)
	ReplayParked(ctx context.Context, endpointID string, version time.Time,
		send func(context.Context, []schema.Task) error) (int, error)
	UnorderedWithKeys(ctx context.Context, limit int) ([]schema.Endpoint, error)
	ReleaseUnordered(ctx context.Context, endpointID string, version time.Time,
		send func(context.Context, []schema.Task) error) (int, error)
}

// strandedBatch is how many endpoints one sweep replays at most.
const strandedBatch = 100

// settled is how long an endpoint must have stayed unchanged before a
// sweep replays it: the API call that enabled or resumed it replays it
// itself, and a sweep racing that call would take the replay (and the
// count its answer reports) from it.
const settled = 2 * time.Second

// Resumer ends the pauses whose time is up and replays the parked
// deliveries of every endpoint that can be sent to again: a pause ended,
// a probe re-enabled it, or a deliverer parked a task on an older copy of
// the endpoint than the change that made it sendable. It also sends the
// deliveries that were blocked behind the heads of their ordering keys
// when their endpoint's ordering was switched off. Replays skip what
// another replay holds, so several instances may run one each. Set its
// fields, then call Run.
type Resumer struct {
	Store ResumeStore
	Tasks TaskQueue
	// Poll is how often Run sweeps (default 5s).
	Poll time.Duration
	// Changed, when set, is told of each endpoint whose pause ended, so
	// that an in-process endpoint table knows at once.
	Changed func(ctx context.Context, id string)
	Log     *slog.Logger
}

// Run sweeps every Poll until ctx ends.
func (r *Resumer) Run(ctx context.Context) error {
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	everyPoll(ctx, r.Poll, r.Log, "resuming endpoints failed; trying again at the next sweep", r.Sweep)
	return nil
}

// Sweep ends the pauses whose time is up and replays those endpoints,
// then replays the parked deliveries of up to strandedBatch endpoints that
// are enabled, not paused and settled, oldest first, and last sends what
// was blocked on up to strandedBatch endpoints made unordered. It returns
// the first error; endpoints after a failed replay are still tried.
func (r *Resumer) Sweep(ctx context.Context) error {
	ended, err := r.Store.EndPauses(ctx)
	if err != nil {
		return err
	}
	for _, ep := range ended {
		r.Log.Info("endpoint pause ended", "endpoint_id", ep.ID)
		if r.Changed != nil {
			r.Changed(ctx, ep.ID)
		}
	}
	stranded, err := r.Store.StrandedEndpoints(ctx, settled, strandedBatch)
	if err != nil {
		return err
	}
	var first error
	for _, ep := range append(ended, stranded...) {
		if !ep.Sendable(time.Now()) {
			continue // a pause ended on a disabled endpoint: its deliveries stay parked
		}
		n, err := r.Store.ReplayParked(ctx, ep.ID, ep.UpdatedAt, r.enqueue)
		if n > 0 {
			r.Log.Info("parked deliveries replayed", "endpoint_id", ep.ID, "replayed", n)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	// Endpoints whose ordering was switched off while deliveries waited
	// behind the heads of their keys: those are sent now, unordered.
	unordered, err := r.Store.UnorderedWithKeys(ctx, strandedBatch)
	if err != nil {
		return cmp.Or(first, err)
	}
	for _, ep := range unordered {
		n, err := r.Store.ReleaseUnordered(ctx, ep.ID, ep.UpdatedAt, r.enqueue)
		if n > 0 {
			r.Log.Info("deliveries blocked before the endpoint's ordering was switched off sent", "endpoint_id", ep.ID, "sent", n)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// enqueue queues a replay's tasks, within recoverQueueTimeout.
func (r *Resumer) enqueue(ctx context.Context, tasks []schema.Task) error {
	ctx, cancel := context.WithTimeout(ctx, recoverQueueTimeout)
	defer cancel()
	return r.Tasks.Enqueue(ctx, tasks)
}
