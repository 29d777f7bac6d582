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

// commitHooks holds the functions OnCommit registered for a batch.
type commitHooks struct{ fns []func() }

type commitHooksKey struct{}

// OnCommit registers fn to run once the transaction of the batch ctx
// belongs to has committed, and not at all if it aborts: a TransformFunc
// counts what it did there, so that a batch read again after an abort (an
// outage, a poison record being isolated) is not counted twice. Outside a
// RunTransform batch, fn runs at once.
func OnCommit(ctx context.Context, fn func()) {
	if h, ok := ctx.Value(commitHooksKey{}).(*commitHooks); ok {
		h.fns = append(h.fns, fn)
		return
	}
	fn()
}

// RunTransform consumes cfg.Topics in cfg.Group until ctx ends, handing each
// batch of due records to fn, exactly once per committed transaction. A
// session that fails beyond retrying (fenced, or the broker gone for long)
// is replaced by a new one after a backoff. It returns nil once ctx ends and
// the batch in flight has ended.
func RunTransform(ctx context.Context, cfg Config, fn TransformFunc) error {
	cfg.defaults()
	if cfg.TransactionalID == "" {
		return errf(cfg.Group, "no transactional id")
	}
	var wait time.Duration
	for ctx.Err() == nil {
		err := runSession(ctx, &cfg, fn)
		if ctx.Err() != nil {
			return nil
		}
		wait = nextBackoff(wait)
		cfg.Log.Error("transactional session failed; starting a new one", "group", cfg.Group, "err", err, "backoff", wait)
		backoff(ctx, wait)
	}
	return nil
}

// fetchedKey is the key of the time a record arrived in its client, in the
// record's Context.
type fetchedKey struct{}

// stampFetched is a client hook that notes on each fetched record when it
// arrived in the client's buffer (see Fetched).
type stampFetched struct {
	mu  sync.Mutex
	at  time.Time
	ctx context.Context
}

func (s *stampFetched) OnFetchRecordBuffered(r *kgo.Record) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// The records of one fetch share a context: an allocation per
	// fetch, not per record.
	if s.ctx == nil || now.Sub(s.at) > time.Millisecond {
		s.at, s.ctx = now, context.WithValue(context.Background(), fetchedKey{}, now)
	}
	r.Context = s.ctx
}

// Fetched returns when a record handed to a TransformFunc arrived in the
// client, on this process's clock, or the zero time if it is not known.
// From then on its wait is the stage's own: behind the batches before it
// and in its own batch's work and commit.
func Fetched(r *kgo.Record) time.Time {
	if r.Context == nil {
		return time.Time{}
	}
	at, _ := r.Context.Value(fetchedKey{}).(time.Time)
	return at
}

func runSession(ctx context.Context, cfg *Config, fn TransformFunc) error {
	sess, err := kgo.NewGroupTransactSession(cfg.opts(
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.WithHooks(&stampFetched{}),
	)...)
	if err != nil {
		return errf(cfg.Group, "new session: %w", err)
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchHanging(wctx, kadm.NewClient(sess.Client()), cfg, cfg.TransactionTimeout)
	}()
	defer func() {
		stopWatch()
		<-watched
		sess.Close()
	}()

	var wait time.Duration
	// limit is the size of the next batch. A batch that fails with a
	// poison record is read again in halves, until the record is alone
	// and goes to the quarantine topic; every batch that commits doubles
	// the size again, up to MaxPollRecords.
	limit := cfg.MaxPollRecords
	poison := map[recordPos]error{}
	for {
		fs := sess.PollRecords(ctx, limit)
		if pollErrors(fs, cfg.Log) {
			if ctx.Err() != nil {
				return nil
			}
			return ErrClosed
		}
		recs := fs.Records()
		if len(recs) == 0 {
			sess.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		// Records known to be poison go to the quarantine topic in the
		// batch's transaction; fn gets the others.
		var bad []*kgo.Record
		good := recs
		if len(poison) > 0 {
			good = nil
			for _, r := range recs {
				if _, ok := poison[position(r)]; ok {
					bad = append(bad, r)
				} else {
					good = append(good, r)
				}
			}
		}
		run := func(ctx context.Context, _ []*kgo.Record, emit Emit) error {
			for _, r := range bad {
				emit(quarantineRecord(cfg.Quarantine, cfg.Group, r, poison[position(r)], time.Now()))
			}
			if len(good) == 0 {
				return nil
			}
			return guard(cfg.Log, cfg.Group, func() error { return fn(ctx, good, emit) })
		}
		committed, failure, err := transact(ctx, cfg, sess, recs, run)
		sess.AllowRebalance()
		if err != nil {
			return err
		}
		switch {
		case committed:
			for _, r := range bad {
				cfg.quarantined(r, poison[position(r)])
				delete(poison, position(r))
			}
			wait = 0
			limit = min(2*limit, cfg.MaxPollRecords)
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(failure, ErrSplit) && len(good) > 1:
			limit = max(1, len(good)/2)
			continue
		case IsPoison(failure) && cfg.Quarantine != "" && len(good) > 0:
			// Not an outage: read the batch again at once, in halves,
			// until the poison record is alone. (The quarantine refusing
			// a record is waited out below, as an outage.)
			if len(good) == 1 {
				poison[position(good[0])] = failure
			}
			limit = max(1, len(good)/2)
			continue
		}
		// Aborted: the session rewound to the committed offsets.
		if failure == nil {
			// The session's own decision: its partitions moved (a
			// rebalance) or the coordinator refused the offsets.
			cfg.Log.Info("transaction aborted by the group session; reading the batch again", "group", cfg.Group,
				"records", len(recs))
		}
		wait = nextBackoff(wait)
		backoff(ctx, wait)
	}
}

// transact runs fn on one batch in a transaction. It returns whether the
// batch committed and, when it did not, why (a poison error when nothing
// but poison records made it fail). Its error says that the session cannot
// go on.
func transact(ctx context.Context, cfg *Config, sess *kgo.GroupTransactSession, recs []*kgo.Record, fn TransformFunc) (committed bool, failure, err error) {
	wctx, cancel := workContext(ctx, cfg.Grace)
	defer cancel()
	if err := sess.Begin(); err != nil {
		return false, nil, errf(cfg.Group, "begin: %w", err)
	}
	var (
		mu       sync.Mutex
		prodErrs []error
	)
	emit := func(r *kgo.Record) {
		sess.Produce(wctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				prodErrs = append(prodErrs, err)
				mu.Unlock()
			}
		})
	}
	hooks := &commitHooks{}
	fnErr := fn(context.WithValue(wctx, commitHooksKey{}, hooks), recs, emit)
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
	failure = classify(fnErr, flushErr, prodErrs)
	mu.Unlock()
	try := kgo.TryCommit
	if failure != nil {
		try = kgo.TryAbort
		cfg.Log.Warn("batch failed; aborting and reading it again", "group", cfg.Group,
			"records", len(recs), "poison", IsPoison(failure), "err", failure)
	}
	committed, err = sess.End(ectx, try)
	if err != nil {
		return false, failure, errf(cfg.Group, "end transaction: %w", err)
	}
	if committed {
		for _, fn := range hooks.fns {
			fn()
		}
	}
	return committed, failure, nil
}

// classify joins a batch's errors: a poison error when every one of them
// says poison, so that an outage during a batch with a poison record is
// still waited out as an outage.
func classify(fnErr, flushErr error, prodErrs []error) error {
	all := append([]error{fnErr, flushErr}, prodErrs...)
	joined := errors.Join(all...)
	if joined == nil {
		return nil
	}
	poison, other := false, false
	for _, err := range all {
		if err != nil {
			poison = poison || IsPoison(err)
			other = other || !IsPoison(err)
		}
	}
	switch {
	case !other:
		return Poison(joined)
	case poison:
		// An outage beside poison: the message only, so that nothing
		// matches ErrPoison any more.
		return errors.New(joined.Error())
	}
	return joined
}

// recordPos is where a record sits.
type recordPos struct {
	topic     string
	partition int32
	offset    int64
}

func position(r *kgo.Record) recordPos { return recordPos{r.Topic, r.Partition, r.Offset} }
