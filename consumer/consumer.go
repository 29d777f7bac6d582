// Package consumer is hookstream's Kafka machinery: group members that read
// a batch, hand it to a stage, and move their offsets only once the stage's
// work is safe.
//
// Three loops cover every stage. RunTransform reads, lets the stage emit
// records, and commits what it emitted together with the input offsets in
// one Kafka transaction (exactly-once between topics: the dispatcher).
// RunConcurrent runs the stage on many records at once, within a partition
// too, and commits each partition up to its oldest record not done (its
// watermark); with a Gate it holds back records that are not yet due,
// pausing their partition without blocking other partitions or a
// rebalance (the deliverer and the retry tiers). RunSink reads, lets the
// stage store the batch elsewhere, and commits the offsets after the store
// succeeded (at-least-once; the store must be idempotent: the sink).
//
// Each ends the work in flight before its partitions move (RunTransform
// and RunSink block rebalances while a batch is in flight; RunConcurrent's
// revoked partitions wait for their records and commit), and each finishes
// that work on shutdown within a grace period.
//
// Every loop tells a poison record (ErrPoison: it can never be handled)
// from an outage. An outage is waited out, the batch read again, nothing
// lost. A poison record is isolated (its batch split until it is alone)
// and moved to the quarantine topic with the stage, the reason and where it
// came from, and the loop goes on. The package knows Kafka only: no HTTP,
// no SQL.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config describes a group member.
type Config struct {
	Brokers []string
	Group   string
	Topics  []string
	// Regex makes Topics regular expressions: the member reads every
	// topic whose name one of them matches, topics created later too
	// (franz-go's ConsumeRegex; the broker's metadata is polled).
	Regex bool
	// StartAtEnd makes a group without committed offsets start at the
	// end of its partitions (records produced from then on) rather than
	// at their start.
	StartAtEnd bool
	// TransactionalID identifies the member's producer (RunTransform only).
	// It must be unique among running members; reusing the id of a crashed
	// member fences it and aborts its open transaction at once.
	TransactionalID string
	// Outputs are the topics RunTransform's transactions write to, where
	// it looks for its hanging transactions (see hanging.go).
	Outputs []string
	// ClientOpts are extra franz-go options: TLS, SASL, logger, hooks.
	ClientOpts []kgo.Opt
	// MaxPollRecords bounds a batch (default 500).
	MaxPollRecords int
	// MaxInFlight bounds the records RunConcurrent works on at once
	// (default 1024), PartitionInFlight those of one partition (default
	// 512); CommitInterval is how often it commits (default 200ms).
	MaxInFlight       int
	PartitionInFlight int
	// MaxInFlightBytes bounds the bytes of the records (keys, values,
	// headers) RunConcurrent works on at once (default 32 MiB), whatever
	// their number: a record bigger than that runs alone.
	MaxInFlightBytes int64
	CommitInterval   time.Duration
	// Grace is how long a batch in flight may still run once ctx ends
	// (default 10s). Its work context is cancelled when Grace passes.
	Grace time.Duration
	// RebalanceTimeout bounds how long a batch may hold up a rebalance
	// (default 2m); batches must finish well within it.
	RebalanceTimeout time.Duration
	// TransactionTimeout is how long the broker lets a transaction stay
	// open (default 20s). Read-committed consumers cannot read past an open
	// transaction, so after a member dies without a successor taking its
	// transactional id, its partitions wait this long.
	TransactionTimeout time.Duration
	// SessionTimeout is how long the group waits for a member that
	// stopped heartbeating (killed) before giving its partitions to the
	// others (default 10s; Kafka's 45s would stall them for that long).
	SessionTimeout time.Duration
	// Quarantine is the topic where poison records go (see ErrPoison),
	// with headers naming the stage, the reason and where they came from.
	// Without one, a poison record is retried like an outage, forever.
	Quarantine string
	// OnQuarantine, when set, is told of each record quarantined.
	OnQuarantine func(r *kgo.Record, reason error)
	Log          *slog.Logger
}

func (c *Config) defaults() {
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 500
	}
	if c.Grace <= 0 {
		c.Grace = 10 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 2 * time.Minute
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.PartitionInFlight <= 0 {
		c.PartitionInFlight = 512
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = 32 << 20
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = 200 * time.Millisecond
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = 20 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) opts(extra ...kgo.Opt) []kgo.Opt {
	reset := kgo.NewOffset().AtStart()
	if c.StartAtEnd {
		reset = kgo.NewOffset().AtEnd()
	}
	o := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ConsumerGroup(c.Group),
		kgo.ConsumeTopics(c.Topics...),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RebalanceTimeout(c.RebalanceTimeout),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.HeartbeatInterval(c.SessionTimeout / 10),
		kgo.ClientID("hookstream-" + c.Group),
		// Memory must not grow with a backlog: a client buffers a fetch
		// response per broker ahead of the poll, 50 MiB by default. A
		// record bigger than these limits is still fetched whole.
		kgo.FetchMaxBytes(fetchMaxBytes),
		kgo.FetchMaxPartitionBytes(fetchMaxPartitionBytes),
		// Which member reads which partitions: the first question when one
		// partition's records wait behind another's.
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
			if c.Log != nil {
				c.Log.Info("partitions assigned", "group", c.Group, "member", c.TransactionalID, "partitions", assigned)
			}
		}),
	}
	if c.Regex {
		o = append(o, kgo.ConsumeRegex(), kgo.MetadataMaxAge(10*time.Second))
	}
	o = append(o, c.ClientOpts...)
	return append(o, extra...)
}

// Bounds of one fetch response, compressed as it comes: 1 MiB is a few
// thousand tasks (several MiB once decompressed), about what a stage works
// on at once, and 128 KiB of a partition about what RunConcurrent holds of
// one (PartitionInFlight). A client keeps a whole response, decompressed,
// until every record of it is polled; and the records of a partition it
// pauses (at its cap) are dropped from it and fetched again later, so a
// larger fetch is memory and decompression spent for nothing
// (docs/performance.md, "Memory under a backlog").
const (
	fetchMaxBytes          = 1 << 20
	fetchMaxPartitionBytes = 128 << 10
)

// ErrClosed is returned by the loops when their client is closed under
// them; it never escapes a loop that stopped because ctx ended.
var ErrClosed = errors.New("consumer: client closed")

// workContext returns a context for a batch in flight: it outlives ctx by
// grace, so that shutdown lets the batch finish instead of failing it.
func workContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	return wctx, func() { stop(); cancel() }
}

// pollErrors logs fetch errors and reports whether the client is closed.
func pollErrors(fs kgo.Fetches, log *slog.Logger) (closed bool) {
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, kgo.ErrClientClosed) {
			return true
		}
		if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
			continue
		}
		log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
	}
	return false
}

// backoff sleeps for d or until ctx ends.
func backoff(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 100 * time.Millisecond
	}
	return min(2*d, 5*time.Second)
}

func errf(group, format string, args ...any) error {
	return fmt.Errorf("consumer %s: "+format, append([]any{group}, args...)...)
}
