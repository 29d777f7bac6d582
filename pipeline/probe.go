package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// ProbeStore is what the Prober claims probes from (see
// postgres.DB.ClaimProbe).
type ProbeStore interface {
	ClaimProbe(ctx context.Context, schedule schema.ProbeSchedule,
		send func(context.Context, schema.Task) error) (schema.Endpoint, bool, error)
}

// Prober sends the probes of endpoints the failure rule disabled, on
// Schedule: each probe is the task of the endpoint's oldest parked
// delivery, marked as a probe, queued for the deliverers, which send it
// although the endpoint is disabled. Its outcome is recorded like any
// attempt's; the sink re-enables the endpoint when it succeeded (see
// schema.DisableRule.Observe), and the Resumer then replays the rest. A
// claim in the store keeps two instances from probing one endpoint at
// once, so every API instance runs one. Set its fields, then call Run.
type Prober struct {
	Store    ProbeStore
	Tasks    TaskQueue
	Schedule schema.ProbeSchedule
	// Poll is how often Run looks for probes that are due (default 5s).
	Poll    time.Duration
	Metrics *Metrics
	Log     *slog.Logger
}

// Run sends the probes that are due, every Poll, until ctx ends.
func (p *Prober) Run(ctx context.Context) error {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	everyPoll(ctx, p.Poll, p.Log, "probing disabled endpoints failed; trying again at the next poll", func(ctx context.Context) error {
		_, err := p.Sweep(ctx)
		return err
	})
	return nil
}

// everyPoll runs sweep at once and then every poll (default 5s) until ctx
// ends, logging a failed sweep with msg.
func everyPoll(ctx context.Context, poll time.Duration, log *slog.Logger, msg string, sweep func(context.Context) error) {
	if poll == 0 {
		poll = 5 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn(msg, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep sends every probe that is due now, one endpoint at a time, and
// returns how many it sent.
func (p *Prober) Sweep(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		ep, ok, err := p.Store.ClaimProbe(ctx, p.Schedule, func(ctx context.Context, t schema.Task) error {
			ctx, cancel := context.WithTimeout(ctx, recoverQueueTimeout)
			defer cancel()
			return p.Tasks.Enqueue(ctx, []schema.Task{t})
		})
		if err != nil || !ok {
			return n, err
		}
		n++
		p.Metrics.probes.WithLabelValues("sent").Inc()
		p.Log.Info("probe sent to a disabled endpoint", "endpoint_id", ep.ID, "tenant", ep.Tenant, "probe", ep.Probes+1)
	}
	return n, nil
}
