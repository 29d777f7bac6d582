package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
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
		// created tells a source from another of the same id, declared
		// after it was deleted (or replaced from HOOKSTREAM_SOURCES).
		created time.Time
		stop    context.CancelFunc
		done    chan struct{}
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
		r := running{created: src.CreatedAt, stop: stop, done: make(chan struct{})}
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
			want := make(map[string]time.Time, len(srcs))
			for _, s := range srcs {
				want[s.ID] = s.CreatedAt
			}
			for id, r := range live {
				if created, ok := want[id]; !ok || !created.Equal(r.created) {
					r.stop()
					<-r.done
					delete(live, id)
					p.log.Info("source stopped: deleted or replaced", slog.String("source_id", id))
				}
			}
			for _, s := range srcs {
				if _, ok := live[s.ID]; !ok {
					start(s)
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

// parseSources reads HOOKSTREAM_SOURCES: a JSON array of sources, each
// with its id, checked as POST /v1/sources checks them.
func parseSources(cfg Config) ([]schema.Source, error) {
	if strings.TrimSpace(cfg.Sources) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(cfg.Sources))
	dec.DisallowUnknownFields()
	var srcs []schema.Source
	if err := dec.Decode(&srcs); err != nil {
		return nil, fmt.Errorf("config: HOOKSTREAM_SOURCES: not a JSON array of sources: %w", err)
	}
	seen := map[string]bool{}
	for i := range srcs {
		s := &srcs[i]
		s.CreatedAt = time.Time{}
		if s.Start == "" {
			s.Start = schema.StartEarliest
		}
		if s.ID == "" || seen[s.ID] {
			return nil, fmt.Errorf("config: HOOKSTREAM_SOURCES: source %d: each source needs an id of its own", i)
		}
		seen[s.ID] = true
		if err := s.Validate(cfg.TopicPrefix); err != nil {
			return nil, fmt.Errorf("config: HOOKSTREAM_SOURCES: source %q: %w", s.ID, err)
		}
	}
	return srcs, nil
}

// declareSources makes the sources table hold each source of
// HOOKSTREAM_SOURCES as it is defined there: missing ones are created,
// changed ones replaced under the same id (so their group's offsets go
// on). Sources declared through the API alone are left alone.
func (p *process) declareSources(ctx context.Context, srcs []schema.Source) error {
	for _, want := range srcs {
		have, err := p.db.Source(ctx, want.ID)
		switch {
		case errors.Is(err, schema.ErrNotFound):
		case err != nil:
			return err
		default:
			have.CreatedAt = time.Time{}
			if reflect.DeepEqual(have, want) {
				continue
			}
			if err := p.db.DeleteSource(ctx, want.ID); err != nil && !errors.Is(err, schema.ErrNotFound) {
				return err
			}
			p.log.Info("source replaced: its definition in HOOKSTREAM_SOURCES changed", "source_id", want.ID)
		}
		// Another api instance may declare it at the same time.
		if _, err := p.db.CreateSource(ctx, want, 0); err != nil && !errors.Is(err, schema.ErrConflict) {
			return err
		}
	}
	return nil
}
