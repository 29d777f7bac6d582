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
// the failure lasts.
func RunSink(ctx context.Context, cfg Config, fn SinkFunc) error {
	cfg.defaults()
	cl, err := kgo.NewClient(cfg.opts()...)
	if err != nil {
		return errf(cfg.Group, "new client: %w", err)
	}
	defer cl.Close()

	var wait time.Duration
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
		err := fn(wctx, recs)
		if err == nil {
			err = cl.CommitRecords(wctx, recs...)
		}
		cancel()
		if err == nil {
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
