package consumer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Emit produces a record inside the batch's transaction.
type Emit func(*kgo.Record)

// TransformFunc handles a batch of records. What it emits is committed
// together with the batch's offsets, or not at all. Returning an error aborts
// the transaction: the batch is read again after a backoff, so the function
// must be safe to run again on the same records.
type TransformFunc func(ctx context.Context, recs []*kgo.Record, emit Emit) error

// Gate returns the time a record is due. A record due later is held back:
// its partition pauses until then and resumes at that record, while other
// partitions go on. The zero time means due now.
type Gate func(*kgo.Record) time.Time

// shortFetchMaxWait, the long poll of gated and concurrent consumers,
// bounds how late a resumed partition (a due record, a partition below its
// cap again) is fetched.
const shortFetchMaxWait = 250 * time.Millisecond

// RunTransform consumes cfg.Topics in cfg.Group until ctx ends, handing each
// batch of due records to fn, exactly once per committed transaction. A
// session that fails beyond retrying (fenced, or the broker gone for long)
// is replaced by a new one after a backoff. It returns nil once ctx ends and
// the batch in flight has ended.
func RunTransform(ctx context.Context, cfg Config, gate Gate, fn TransformFunc) error {
	cfg.defaults()
	if cfg.TransactionalID == "" {
		return errf(cfg.Group, "no transactional id")
	}
	var wait time.Duration
	for ctx.Err() == nil {
		err := runSession(ctx, &cfg, gate, fn)
		if ctx.Err() != nil {
			return nil
		}
		wait = nextBackoff(wait)
		cfg.Log.Error("transactional session failed; starting a new one", "group", cfg.Group, "err", err, "backoff", wait)
		backoff(ctx, wait)
	}
	return nil
}

func runSession(ctx context.Context, cfg *Config, gate Gate, fn TransformFunc) error {
	p := newPauser()
	opts := []kgo.Opt{
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.revoked),
	}
	if gate != nil {
		// A resumed partition is fetched by the next fetch request, which
		// waits for the one in flight: keep long polls short so that a
		// due record is not late by a whole poll.
		opts = append(opts, kgo.FetchMaxWait(shortFetchMaxWait))
	}
	sess, err := kgo.NewGroupTransactSession(cfg.opts(opts...)...)
	if err != nil {
		return errf(cfg.Group, "new session: %w", err)
	}
	p.cl = sess.Client()
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchHanging(wctx, kadm.NewClient(sess.Client()), cfg, cfg.TransactionTimeout)
	}()
	defer func() {
		stopWatch()
		<-watched
		p.stopAll()
		sess.Close()
	}()

	var wait time.Duration
	for {
		fs := sess.PollRecords(ctx, cfg.MaxPollRecords)
		if pollErrors(fs, cfg.Log) {
			if ctx.Err() != nil {
				return nil
			}
			return ErrClosed
		}
		recs := fs.Records()
		if gate != nil {
			recs = p.hold(recs, gate, time.Now())
		}
		if len(recs) == 0 {
			sess.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		committed, err := transact(ctx, cfg, sess, recs, fn)
		sess.AllowRebalance()
		if err != nil {
			return err
		}
		if committed {
			wait = 0
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		// Aborted: the session rewound to the committed offsets.
		wait = nextBackoff(wait)
		backoff(ctx, wait)
	}
}

// transact runs fn on one batch in a transaction. It returns an error only
// when the session cannot go on.
func transact(ctx context.Context, cfg *Config, sess *kgo.GroupTransactSession, recs []*kgo.Record, fn TransformFunc) (bool, error) {
	wctx, cancel := workContext(ctx, cfg.Grace)
	defer cancel()
	if err := sess.Begin(); err != nil {
		return false, errf(cfg.Group, "begin: %w", err)
	}
	var (
		mu      sync.Mutex
		prodErr error
	)
	emit := func(r *kgo.Record) {
		sess.Produce(wctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				prodErr = errors.Join(prodErr, err)
				mu.Unlock()
			}
		})
	}
	fnErr := fn(wctx, recs, emit)
	// Flushing and ending are bounded: by then the broker aborts the
	// transaction anyway. Without a bound, End can wait forever: after
	// the broker was gone, End waits for a heartbeat of a group that
	// cannot rejoin until this batch ends and allows the rebalance (seen
	// in the broker-restart fault run). Past the bound, End aborts, or
	// fails and the session starts again.
	ectx, cancelEnd := context.WithTimeout(wctx, cfg.TransactionTimeout)
	defer cancelEnd()
	// End flushes the produce buffer before deciding, so the produce
	// errors are all known once it returns; a failed produce must not
	// commit, so a commit with one is impossible only if we decide after
	// flushing: flush first.
	flushErr := sess.Client().Flush(ectx)
	mu.Lock()
	failed := fnErr != nil || prodErr != nil || flushErr != nil
	mu.Unlock()
	try := kgo.TryCommit
	if failed {
		try = kgo.TryAbort
		cfg.Log.Warn("batch failed; aborting and reading it again", "group", cfg.Group,
			"records", len(recs), "err", errors.Join(fnErr, prodErr, flushErr))
	}
	committed, err := sess.End(ectx, try)
	if err != nil {
		return false, errf(cfg.Group, "end transaction: %w", err)
	}
	return committed, nil
}
