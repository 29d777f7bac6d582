package pipeline

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Priority lets the bulk lanes yield to the fast lane. Both lanes share
// the process's CPU, Postgres and broker: a tenant's backlog in the bulk
// lanes, worked off flat out, makes every stage slower, the fast lane's
// too. So the fast lane's stages report how late their work is (Observe),
// and each interval (Run) the bulk lanes' rate is halved when the fast
// lane was late (a wait over Target), and raised by a quarter when it was
// not, until it no longer binds. The bulk stages pace their work with it
// (Lane.Wait): a backlog drains at full speed while nobody else waits,
// and at what the fast lane leaves over while someone does.
//
// The signal is hookstream's own clock only (how long a task waited
// between its dispatch and its attempt, how long a dispatch batch took),
// never a publisher's timestamp, which a skewed clock would make look late
// for ever.
type Priority struct {
	// Target is the fast lane's wait above which the bulk lanes yield.
	Target time.Duration
	// Min is the lowest rate of a bulk lane, in tasks per second: a bulk
	// lane slows down but never stops.
	Min float64

	late  atomic.Bool
	mu    sync.Mutex
	lanes []*Lane
}

// NewPriority returns a Priority with the target and minimum rate; a zero
// target never yields.
func NewPriority(target time.Duration, minRate float64) *Priority {
	return &Priority{Target: target, Min: max(minRate, 1)}
}

// Lane returns a new bulk lane paced by p. A nil p gives a lane that never
// waits.
func (p *Priority) Lane() *Lane {
	l := &Lane{}
	l.limit.Store(math.Float64bits(math.Inf(1)))
	if p == nil {
		return l
	}
	p.mu.Lock()
	p.lanes = append(p.lanes, l)
	p.mu.Unlock()
	return l
}

// Observe reports how late a unit of the fast lane's work started (or how
// long it took): over Target, the bulk lanes slow down at the next tick.
func (p *Priority) Observe(wait time.Duration) {
	if p == nil || p.Target <= 0 || wait <= p.Target || wait > time.Hour {
		return
	}
	p.late.Store(true)
}

// Run adjusts the lanes' rates every interval until ctx ends.
func (p *Priority) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.tick(interval)
		}
	}
}

// tick sets each lane's rate from the last interval: half of what it did
// (or of its limit, when lower) when the fast lane was late; a quarter
// more otherwise, unbound once that is far over what it does.
func (p *Priority) tick(interval time.Duration) {
	late := p.late.Swap(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lanes {
		did := float64(l.done.Swap(0)) / interval.Seconds()
		limit := l.Limit()
		switch {
		case late:
			limit = max(p.Min, min(limit, did)/2)
		case math.IsInf(limit, 1):
		case limit > 4*max(did, p.Min):
			// It no longer binds: the lane does less than it may.
			limit = math.Inf(1)
		default:
			limit *= 1.25
		}
		l.set(limit)
	}
}

// Lane paces one bulk stage: each unit of work (a task) starts no earlier
// than the limit allows, without a burst after an idle spell. This is a
// token bucket of capacity zero, which golang.org/x/time/rate cannot
// express for units taken several at a time. A change of the limit voids
// the turns handed out at the old one: the waiters take new ones at once,
// so that a raised limit (or none) does not leave tasks asleep on turns of
// a lower one, and a lowered one binds the waiters too.
type Lane struct {
	limit atomic.Uint64 // float64 bits: tasks per second, +Inf unbound
	done  atomic.Int64  // tasks started since the last tick

	mu      sync.Mutex
	next    time.Time     // when the next task may start
	changed chan struct{} // closed when the limit changes; nil: no waiter
}

// Limit returns the lane's rate, in tasks per second (+Inf: unbound).
func (l *Lane) Limit() float64 { return math.Float64frombits(l.limit.Load()) }

// set changes the lane's rate and wakes its waiters to take new turns.
func (l *Lane) set(limit float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if limit == l.Limit() {
		return
	}
	l.limit.Store(math.Float64bits(limit))
	l.next = time.Time{}
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// reserve takes n tasks' turn and returns how long to wait for it, and a
// channel closed if the limit changes before then.
func (l *Lane) reserve(n int, now time.Time) (time.Duration, <-chan struct{}) {
	limit := l.Limit()
	if math.IsInf(limit, 1) {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next.Before(now) {
		l.next = now
	}
	start := l.next
	l.next = l.next.Add(time.Duration(float64(n) / limit * float64(time.Second)))
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return start.Sub(now), l.changed
}

// Wait waits for the turn of n tasks, at most maxWait (0: no bound): a
// stage inside a transaction bounds its wait, and the turns it did not
// wait for are waited for by the next (unless the limit changes first).
// It returns ctx's error if ctx ends first.
func (l *Lane) Wait(ctx context.Context, n int, maxWait time.Duration) error {
	var deadline time.Time
	if maxWait > 0 {
		deadline = time.Now().Add(maxWait)
	}
	for {
		now := time.Now()
		d, changed := l.reserve(n, now)
		if !deadline.IsZero() {
			d = min(d, deadline.Sub(now))
		}
		if d <= 0 {
			l.done.Add(int64(n))
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
			l.done.Add(int64(n))
			return nil
		case <-changed:
			t.Stop() // a new limit: a new turn
		}
	}
}
