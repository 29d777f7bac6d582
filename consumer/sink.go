package consumer

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// SinkFunc stores a batch of records outside Kafka. It must be idempotent:
// after a crash between storing and committing, the batch is stored again.
type SinkFunc func(ctx context.Context, recs []*kgo.Record) error

// RunSink consumes cfg.Topics in cfg.Group until ctx ends, handing each batch
// to fn and committing its offsets only after fn succeeded. When fn fails
// (its store is down), nothing is committed: the partitions rewind to the
// start of the batch and the batch is read again after a backoff, as long as
// the failure lasts. When fn fails for a poison record, the batch is stored
// in halves, in order, until the record is alone; it goes to the quarantine
// topic and the rest is stored and committed.
func RunSink(ctx context.Context, cfg Config, fn SinkFunc) error {
	cfg.defaults()
	cl, err := kgo.NewClient(cfg.opts()...)
	if err != nil {
		return errf(cfg.Group, "new client: %w", err)
	}
	defer cl.Close()

	var wait time.Duration
	// Records quarantined since the last commit: a batch read again after
	// an outage does not quarantine them twice.
	done := map[recordPos]bool{}
	for {
		fs := cl.PollRecords(ctx, cfg.MaxPollRecords)
		if pollErrors(fs, cfg.Log) {
			if ctx.Err() != nil {
				return nil
			}
			return ErrClosed
		}
		recs := fs.Records()
		if len(recs) == 0 {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		wctx, cancel := workContext(ctx, cfg.Grace)
		err := storeSink(wctx, &cfg, cl, fn, recs, done)
		if err == nil {
			err = cl.CommitRecords(wctx, recs...)
		}
		cancel()
		if err == nil {
			clear(done)
			wait = 0
			cl.AllowRebalance()
			continue
		}
		rewind(cl, recs)
		cl.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
		wait = nextBackoff(wait)
		cfg.Log.Warn("sink batch failed; reading it again", "group", cfg.Group, "records", len(recs), "err", err, "backoff", wait)
		backoff(ctx, wait)
	}
}

// rewind moves each partition of recs back to its first record in recs.
func rewind(cl *kgo.Client, recs []*kgo.Record) {
	to := map[string]map[int32]kgo.EpochOffset{}
	for _, r := range recs {
		if to[r.Topic] == nil {
			to[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		if _, ok := to[r.Topic][r.Partition]; !ok {
			to[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		}
	}
	cl.SetOffsets(to)
}

// storeSink stores recs with fn; a batch failing for a poison record is
// stored in halves, in order, and a poison record alone goes to the
// quarantine topic. Its error is an outage's: the batch must be read again.
func storeSink(ctx context.Context, cfg *Config, cl *kgo.Client, fn SinkFunc, recs []*kgo.Record, done map[recordPos]bool) error {
	if len(done) > 0 {
		rest := recs[:0:0]
		for _, r := range recs {
			if !done[position(r)] {
				rest = append(rest, r)
			}
		}
		recs = rest
	}
	if len(recs) == 0 {
		return nil
	}
	err := guard(cfg.Log, cfg.Group, func() error { return fn(ctx, recs) })
	if err == nil || !IsPoison(err) || cfg.Quarantine == "" {
		return err
	}
	if len(recs) > 1 {
		mid := len(recs) / 2
		if err := storeSink(ctx, cfg, cl, fn, recs[:mid], done); err != nil {
			return err
		}
		return storeSink(ctx, cfg, cl, fn, recs[mid:], done)
	}
	q := quarantineRecord(cfg.Quarantine, cfg.Group, recs[0], err, time.Now())
	if perr := cl.ProduceSync(ctx, q).FirstErr(); perr != nil {
		return errf(cfg.Group, "quarantine: %w", perr)
	}
	done[position(recs[0])] = true
	cfg.quarantined(recs[0], err)
	return nil
}
