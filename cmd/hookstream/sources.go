package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/schema"
)

// sourceGroup names a source's consumer group (and so its committed
// offsets): one per source, after its id.
func (p *process) sourceGroup(id string) string { return p.topics.Group("source-" + id) }

// runSources keeps one transactional dispatcher running per source, as
// the sources table lists them: every SourceRefresh it starts the sources
// created since and stops the deleted ones. Each reads its topics in its
// own group, through d's dedupe gate, endpoint table and metrics.
func (p *process) runSources(ctx context.Context, d *pipeline.Dispatcher) error {
	type running struct {
		stop context.CancelFunc
		done chan struct{}
	}
	live := map[string]running{}
	defer func() {
		for _, r := range live {
			r.stop()
		}
		for _, r := range live {
			<-r.done
		}
	}()
	start := func(src schema.Source) {
		sd := *d
		sd.Source, sd.Lanes, sd.Bulk, sd.Priority, sd.Yield = &src, nil, false, nil, nil
		sd.Log = p.log.With("stage", "source", "source_id", src.ID)
		group := p.sourceGroup(src.ID)
		c := p.member("source-"+src.ID, group, src.Topic, p.cfg.BatchRecords)
		if src.TopicPattern != "" {
			c.Topics, c.Regex = []string{src.TopicRegexp()}, true
		}
		c.StartAtEnd = src.Start == schema.StartLatest
		c.Outputs = []string{p.topics.Deliveries(), p.topics.Invalid(), p.topics.Quarantine()}
		c.Log = sd.Log
		sctx, stop := context.WithCancel(ctx)
		r := running{stop: stop, done: make(chan struct{})}
		live[src.ID] = r
		go func() {
			defer close(r.done)
			if err := consumer.RunTransform(sctx, c, sd.Transform); err != nil {
				sd.Log.Error("source stopped", "err", err)
			}
		}()
		sd.Log.Info("source started", "topic", src.Topic, "topic_pattern", src.TopicPattern, "group", group)
	}
	t := time.NewTicker(p.cfg.SourceRefresh)
	defer t.Stop()
	for {
		if srcs, err := p.db.Sources(ctx); err != nil {
			if ctx.Err() == nil {
				p.log.Warn("reading the sources failed; the running ones go on", "err", err)
			}
		} else {
			want := make(map[string]bool, len(srcs))
			for _, s := range srcs {
				want[s.ID] = true
				if _, ok := live[s.ID]; !ok {
					start(s)
				}
			}
			for id, r := range live {
				if !want[id] {
					r.stop()
					<-r.done
					delete(live, id)
					p.log.Info("source stopped: deleted", slog.String("source_id", id))
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
