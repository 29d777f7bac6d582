package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/semaphore"
)

// ProcessFunc handles one record and returns the records to produce for
// it. It runs concurrently with other records, of its own partition too.
// An error leaves the record unhandled. A poison error (see ErrPoison)
// moves it to the quarantine topic instead. Any other error means that it
// cannot be handled now (shutting down, an outage): it is not committed,
// and the group reads it again, after a new session once an outage.
type ProcessFunc func(ctx context.Context, r *kgo.Record) (out []*kgo.Record, err error)

// RunConcurrent consumes cfg.Topics in cfg.Group until ctx ends, running fn
// on up to MaxInFlight records at once (PartitionInFlight per partition),
// so that a slow record does not hold up the records behind it. A record is
// done once its outputs are stored; each partition commits up to its
// watermark, the lowest record not yet done, so nothing is skipped when a
// member dies. With a Gate, records not yet due are held back as in
// RunTransform. A poison record, or one whose outputs the broker refuses as
// such (too large), goes to the quarantine topic and counts as done.
//
// Delivery is at least once: after a crash, the records between the
// watermark and the last one done run again. A rebalance does not repeat
// anything: a revoked partition waits for its records in flight and
// commits before it moves. A session that fails (outputs that cannot be
// stored) starts again from the committed watermarks after a backoff.
func RunConcurrent(ctx context.Context, cfg Config, gate Gate, fn ProcessFunc) error {
	cfg.defaults()
	var wait time.Duration
	for ctx.Err() == nil {
		err := runConcurrent(ctx, &cfg, gate, fn)
		if ctx.Err() != nil {
			return nil
		}
		wait = nextBackoff(wait)
		cfg.Log.Error("consumer session failed; starting a new one", "group", cfg.Group, "err", err, "backoff", wait)
		backoff(ctx, wait)
	}
	return nil
}

// concurrent is one session of RunConcurrent.
type concurrent struct {
	cfg *Config
	cl  *kgo.Client
	fn  ProcessFunc

	work   context.Context // the records' context: outlives ctx by Grace
	failed context.CancelCauseFunc
	// Records run on a pool of up to MaxInFlight workers, started as
	// needed: a worker keeps the stack a record's HTTP call grew, which a
	// goroutine per record would grow again every time.
	jobs    chan func()
	workers int          // started; touched by the poll loop only
	busy    atomic.Int64 // records started and not yet done
	wg      sync.WaitGroup
	// bytes bounds the bytes of the records in flight (MaxInFlightBytes).
	bytes *semaphore.Weighted

	mu     sync.Mutex
	parts  map[tp]*tracker
	capped map[tp]bool

	commitMu sync.Mutex // serialises the poll loop's commits and a revoke's
}

func runConcurrent(ctx context.Context, cfg *Config, gate Gate, fn ProcessFunc) error {
	c := &concurrent{cfg: cfg, fn: fn, jobs: make(chan func()),
		parts: map[tp]*tracker{}, capped: map[tp]bool{}, bytes: semaphore.NewWeighted(cfg.MaxInFlightBytes)}
	p := newPauser()
	opts := []kgo.Opt{
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, rev map[string][]int32) {
			p.revoked(ctx, cl, rev)
			c.drain(ctx, rev)
		}),
		kgo.OnPartitionsLost(func(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
			p.revoked(ctx, cl, lost)
			c.forget(lost)
		}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A partition resumes (due, or below its cap again) only with the
		// next fetch request, after the long poll in flight: keep long polls
		// short, or a resumed partition waits up to Kafka's 5 s default.
		kgo.FetchMaxWait(shortFetchMaxWait),
	}
	cl, err := kgo.NewClient(cfg.opts(opts...)...)
	if err != nil {
		return errf(cfg.Group, "new client: %w", err)
	}
	c.cl, p.cl = cl, cl
	work, cancelWork := workContext(ctx, cfg.Grace)
	defer cancelWork()
	work, c.failed = context.WithCancelCause(work)
	c.work = work

	err = c.poll(ctx, gate, p)
	// Shutting down or failed: let the records in flight end (Grace bounds
	// them), commit what is done, and leave the group.
	close(c.jobs)
	c.wg.Wait()
	if err == nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		c.commit(cctx, nil)
		cancel()
	}
	p.stopAll()
	cl.Close()
	return err
}

// poll reads records and starts them until ctx ends or the session fails.
// It commits the watermarks itself, between a poll and AllowRebalance:
// there a revoke cannot run, so its commit and a revoke's never cross.
func (c *concurrent) poll(ctx context.Context, gate Gate, p *pauser) error {
	var lastCommit time.Time
	for {
		// At the cap, poll one record: start blocks until a slot frees,
		// which bounds the records in flight by one more than the cap.
		free := max(1, c.cfg.MaxInFlight-int(c.busy.Load()))
		pctx, cancel := context.WithTimeout(ctx, c.cfg.CommitInterval)
		fs := c.cl.PollRecords(pctx, free)
		cancel()
		if pollErrors(fs, c.cfg.Log) {
			if ctx.Err() != nil {
				return nil
			}
			return ErrClosed
		}
		if err := context.Cause(c.work); err != nil && ctx.Err() == nil {
			c.cl.AllowRebalance()
			return err
		}
		recs := fs.Records()
		if gate != nil {
			recs = p.hold(recs, gate, time.Now())
		}
		for _, r := range recs {
			c.start(r)
		}
		if time.Since(lastCommit) >= c.cfg.CommitInterval {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.SessionTimeout)
			c.commit(cctx, nil)
			cancel()
			lastCommit = time.Now()
		}
		c.cl.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// start tracks a record and hands it to a worker, once its bytes fit under
// MaxInFlightBytes (a record bigger than that waits until it runs alone).
// The record is a copy (detach): a fetched record's key and value point
// into the decompressed batch it came in, and the batch stays in memory
// for as long as any of its records does.
func (c *concurrent) start(r *kgo.Record) {
	r, size := detach(r)
	size = min(size, c.cfg.MaxInFlightBytes)
	k := tp{r.Topic, r.Partition}
	c.mu.Lock()
	t := c.parts[k]
	if t == nil {
		t = &tracker{committed: -1}
		c.parts[k] = t
	}
	s := t.add(r)
	if t.full(c.cfg.PartitionInFlight) && !c.capped[k] {
		c.capped[k] = true
		c.cl.PauseFetchPartitions(map[string][]int32{k.topic: {k.partition}})
	}
	c.mu.Unlock()

	if err := c.bytes.Acquire(c.work, size); err != nil {
		// Failing or past the grace: as below.
		c.mu.Lock()
		t.finish(s, false)
		c.mu.Unlock()
		return
	}
	c.busy.Add(1)
	job := func() {
		var out []*kgo.Record
		err := guard(c.cfg.Log, c.cfg.Group, func() (err error) {
			out, err = c.fn(c.work, r)
			return err
		})
		ok := false
		switch {
		case err == nil:
			ok = c.store(r, out)
		case IsPoison(err) && c.cfg.Quarantine != "":
			ok = c.quarantine(r, err)
		case c.work.Err() == nil:
			c.failed(errf(c.cfg.Group, "process %s: %w", source(r), err))
		}
		c.mu.Lock()
		t.finish(s, ok)
		if c.capped[k] && !t.full(c.cfg.PartitionInFlight/2) {
			delete(c.capped, k)
			c.cl.ResumeFetchPartitions(map[string][]int32{k.topic: {k.partition}})
		}
		c.mu.Unlock()
		c.bytes.Release(size)
		c.busy.Add(-1)
	}
	select {
	case c.jobs <- job: // an idle worker took it
		return
	default:
	}
	if c.workers < c.cfg.MaxInFlight {
		c.workers++
		c.wg.Add(1)
		go c.worker(job)
		return
	}
	select {
	case c.jobs <- job:
	case <-c.work.Done():
		// Failing or past the grace: the record stays unfinished and is
		// not committed.
		c.mu.Lock()
		t.finish(s, false)
		c.mu.Unlock()
		c.bytes.Release(size)
		c.busy.Add(-1)
	}
}

// detach returns a copy of r whose key, value and header values share one
// allocation of their own, and its size: the bytes it holds.
func detach(r *kgo.Record) (*kgo.Record, int64) {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	cp := *r
	buf := make([]byte, 0, n)
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	cp.Key, cp.Value = take(r.Key), take(r.Value)
	if r.Headers != nil {
		cp.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			cp.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: take(h.Value)}
		}
	}
	size := int64(n)
	for _, h := range r.Headers {
		size += int64(len(h.Key))
	}
	return &cp, size
}

// worker runs its first job, then others until the session ends.
func (c *concurrent) worker(job func()) {
	defer c.wg.Done()
	job()
	for job := range c.jobs {
		job()
	}
}

// store produces a record's outputs and waits until the broker has them.
// Outputs the broker refuses for what they are put r in quarantine; any
// other failure ends the session: the record cannot count as done.
func (c *concurrent) store(r *kgo.Record, out []*kgo.Record) bool {
	if len(out) == 0 {
		return true
	}
	err := c.cl.ProduceSync(c.work, out...).FirstErr()
	switch {
	case err == nil:
		return true
	case IsPoison(err) && c.cfg.Quarantine != "":
		return c.quarantine(r, fmt.Errorf("store outputs: %w", err))
	case !errors.Is(err, context.Canceled):
		c.failed(errf(c.cfg.Group, "store outputs: %w", err))
	}
	return false
}

// quarantine moves r to the quarantine topic; it is done once the broker
// has it there.
func (c *concurrent) quarantine(r *kgo.Record, reason error) bool {
	q := quarantineRecord(c.cfg.Quarantine, c.cfg.Group, r, reason, time.Now())
	if err := c.cl.ProduceSync(c.work, q).FirstErr(); err != nil {
		if !errors.Is(err, context.Canceled) {
			c.failed(errf(c.cfg.Group, "quarantine: %w", err))
		}
		return false
	}
	c.cfg.quarantined(r, reason)
	return true
}

// commit commits the watermark of every partition (of only, when not nil)
// that moved since its last commit.
func (c *concurrent) commit(ctx context.Context, only map[tp]bool) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	moved := map[tp]int64{}
	c.mu.Lock()
	for k, t := range c.parts {
		if only != nil && !only[k] {
			continue
		}
		if wm, epoch, ok := t.watermark(); ok && wm > t.committed {
			if offsets[k.topic] == nil {
				offsets[k.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[k.topic][k.partition] = kgo.EpochOffset{Epoch: epoch, Offset: wm}
			moved[k] = wm
		}
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	var commitErr error
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = commitError(resp, err)
	})
	if commitErr != nil {
		c.cfg.Log.Warn("offset commit failed; will try again", "group", c.cfg.Group, "err", commitErr)
		return
	}
	c.mu.Lock()
	for k, wm := range moved {
		if t := c.parts[k]; t != nil && wm > t.committed {
			t.committed = wm
		}
	}
	c.mu.Unlock()
}

// drain is the revoke hook: the revoked partitions' records in flight end
// (they are bounded by the endpoint timeouts, well inside the rebalance
// timeout), their watermarks are committed, and they are forgotten.
func (c *concurrent) drain(ctx context.Context, rev map[string][]int32) {
	only := map[tp]bool{}
	for topic, parts := range rev {
		for _, p := range parts {
			only[tp{topic, p}] = true
		}
	}
	deadline := time.Now().Add(c.cfg.RebalanceTimeout - c.cfg.SessionTimeout)
	for time.Now().Before(deadline) {
		busy := false
		c.mu.Lock()
		for k := range only {
			if t := c.parts[k]; t != nil && t.pending() > 0 {
				busy = true
			}
		}
		c.mu.Unlock()
		if !busy || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.SessionTimeout)
	c.commit(cctx, only)
	cancel()
	c.forget(rev)
}

// forget drops partitions: lost ones cannot commit any more.
func (c *concurrent) forget(parts map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(c.parts, tp{topic, p})
			delete(c.capped, tp{topic, p})
		}
	}
}

func commitError(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Gate returns the time a record is due. A record due later is held back:
// its partition pauses until then and resumes at that record, while other
// partitions go on. The zero time means due now.
type Gate func(*kgo.Record) time.Time

// shortFetchMaxWait, the long poll of concurrent consumers,
// bounds how late a resumed partition (a due record, a partition below its
// cap again) is fetched.
const shortFetchMaxWait = 250 * time.Millisecond
