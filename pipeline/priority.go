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
// and each interval (Run) every bulk lane's rate is set from the worst
// wait of the interval:
//
//   - over Target: halved (from what the lane has been doing, when that
//     is less than its limit);
//   - over half of Target: held where it is, the rate the lanes settle at
//     while the fast lane is busy but on time;
//   - under half (or no fast-lane work): raised, a quarter more after one
//     calm interval, up to double after four in a row, and unbound once
//     it has been calm for a second and the limit is far over what the
//     lane does.
//
// The bulk stages pace their work with it (Lane.Wait): a backlog drains at
// full speed while nobody else waits, and at what the fast lane leaves
// over while someone does.
//
// The fast-lane work of a tenant that has work in the bulk lanes too (its
// events were forwarded there in the last bulkMemory) does not count: the
// bulk lanes yield to other tenants, not to the same tenant's share of the
// fast lane, which a burst of one tenant alone would otherwise make late
// behind its own tasks, slowing only itself. This is known where the
// dispatcher runs (Forwarded); a deliverer in a process of its own counts
// every tenant.
//
// The signal is hookstream's own clock only (how long a task waited
// between its dispatch and its attempt, how long an event waited between
// its arrival in the dispatcher and the commit of its tasks), never a
// publisher's timestamp, which a skewed clock would make look late for
// ever.
type Priority struct {
	// Target is the fast lane's wait above which the bulk lanes yield.
	Target time.Duration
	// Min is the lowest rate of a bulk lane, in tasks per second: a bulk
	// lane slows down but never stops.
	Min float64

	worst atomic.Int64 // the longest wait over Target/2 since the last tick, ns
	mu    sync.Mutex
	lanes []*Lane
	// bulk holds the tenants forwarded to the bulk lanes, and when last.
	bulk map[string]time.Time
}

// bulkMemory is how long a tenant counts as having work in the bulk lanes
// after its last event was forwarded there.
const bulkMemory = 10 * time.Second

// calmTicks is how many calm intervals in a row unbind a lane.
const calmTicks = 10

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
// long it took): over half of Target, the bulk lanes stop speeding up at
// the next tick; over Target, they slow down.
func (p *Priority) Observe(wait time.Duration) {
	if p == nil || p.Target <= 0 || wait <= p.Target/2 || wait > time.Hour {
		return
	}
	for {
		old := p.worst.Load()
		if int64(wait) <= old || p.worst.CompareAndSwap(old, int64(wait)) {
			return
		}
	}
}

// ObserveTenant is Observe of a unit of tenant's fast-lane work: not
// counted while the tenant has work in the bulk lanes.
func (p *Priority) ObserveTenant(tenant string, wait time.Duration) {
	if p == nil || p.InBulk(tenant) {
		return
	}
	p.Observe(wait)
}

// Forwarded notes that an event of tenant went to the bulk lanes.
func (p *Priority) Forwarded(tenant string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bulk == nil {
		p.bulk = map[string]time.Time{}
	}
	p.bulk[tenant] = time.Now()
}

// InBulk reports whether tenant had an event forwarded to the bulk lanes
// in the last bulkMemory.
func (p *Priority) InBulk(tenant string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.bulk[tenant]
	return ok && time.Since(at) < bulkMemory
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

// tick sets each lane's rate from the last interval (see Priority).
func (p *Priority) tick(interval time.Duration) {
	worst := time.Duration(p.worst.Swap(0))
	p.mu.Lock()
	defer p.mu.Unlock()
	for tenant, at := range p.bulk {
		if time.Since(at) >= bulkMemory {
			delete(p.bulk, tenant)
		}
	}
	for _, l := range p.lanes {
		// What the lane does, smoothed over a few intervals: its stages
		// take turns in batches, and one idle interval says little.
		did := float64(l.done.Swap(0)) / interval.Seconds()
		l.rate += (did - l.rate) / 4
		limit := l.Limit()
		switch {
		case worst > p.Target:
			l.calm = 0
			limit = max(p.Min, min(limit, l.rate)/2)
		case worst > 0:
			l.calm = 0 // busy but on time: hold
		default:
			l.calm++
			switch {
			case math.IsInf(limit, 1):
			case l.calm >= calmTicks && limit > 4*max(l.rate, p.Min):
				// It no longer binds: the lane does less than it may.
				limit = math.Inf(1)
			default:
				limit *= 1 + float64(min(l.calm, 4))/4
			}
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

	// Priority's, under its mu: the smoothed rate of the lane's work
	// (tasks per second) and how many calm ticks in a row it has had.
	rate float64
	calm int

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
