package pipeline

import (
	"context"
	"sync"
	"time"
)

// Limits caps the attempts in flight per endpoint, so that one endpoint
// cannot take every slot of the deliverer.
//
// Each endpoint has a window of attempts it may have in flight. It starts
// at an eighth of the cap and grows by one with every timely answer up to
// the cap (a slow start: an endpoint nobody knows yet cannot take many
// slots before its first answer shows whether it is slow). An endpoint is
// slow once its recent latency is a good part of its timeout, or once it
// has had requests under way for that long without answering any; its
// window then falls back to an eighth of the cap.
//
// A task for an endpoint whose window is full waits for a slot while the
// endpoint answers (that is back-pressure, not a fault), but not for longer
// than a slow answer, and not at all once the endpoint is slow: it moves on
// to a retry tier instead of holding a slot of its partition.
//
// Limits also caps the attempts in flight of the process, all stages
// together. A task takes its endpoint's slot first and then one of these:
// a task waiting for a busy endpoint does not hold an attempt slot that a
// task for another endpoint could use. Tasks of the bulk lane (tenants past
// their share of the fast lane) take at most three quarters of the attempt
// slots: the rest stay for the fast lane and the retry tiers.
type Limits struct {
	// PerEndpoint is the cap of attempts in flight per endpoint.
	PerEndpoint int

	attempts chan struct{} // the process's attempt slots
	bulk     chan struct{} // the bulk lane's share of them

	mu  sync.Mutex
	eps map[string]*endpointLoad
	now func() time.Time // the clock of latencies and silences
}

// endpointLoad is one endpoint's state, guarded by Limits.mu.
type endpointLoad struct {
	inFlight int // tasks holding a slot of the window
	sending  int // of those, attempts under way (holding an attempt slot too)
	window   int
	limit    time.Duration // slowAfter of the endpoint's timeout
	latency  time.Duration // moving average, timeouts counted in full
	// answered is the time of the last answer, or of the start of the
	// first attempt under way when none has been answered since.
	answered time.Time
	waiters  []chan struct{}
}

type verdict int

const (
	proceed verdict = iota
	moveOn
	cancelled
)

// NewLimits returns limits of perEndpoint attempts in flight per endpoint
// and total in all.
func NewLimits(perEndpoint, total int) *Limits {
	return &Limits{PerEndpoint: max(1, perEndpoint), attempts: make(chan struct{}, max(1, total)),
		bulk: make(chan struct{}, max(1, total*3/4)), eps: map[string]*endpointLoad{}, now: time.Now}
}

// initialWindow is an unknown or slow endpoint's window.
func (l *Limits) initialWindow() int { return max(1, l.PerEndpoint/8) }

// slowAfter is the latency (and the longest wait for a slot) past which an
// endpoint counts as slow: half its timeout, at most a second.
func slowAfter(timeout time.Duration) time.Duration {
	limit := time.Second
	if timeout > 0 {
		limit = min(limit, timeout/2)
	}
	return limit
}

// slow reports whether the endpoint answers slowly, or has stopped
// answering the attempts under way. Time a task spends waiting for an
// attempt slot is not the endpoint's silence.
func (e *endpointLoad) slow(now time.Time) bool {
	return e.latency >= e.limit || e.sending > 0 && now.Sub(e.answered) >= e.limit
}

// acquire takes a slot of the endpoint, then (bulk lane) one of the bulk
// lane's, then an attempt slot. It returns proceed with all taken (give
// them back with release), or moveOn or cancelled with none.
func (l *Limits) acquire(ctx context.Context, id string, timeout time.Duration, bulk bool) verdict {
	v := l.acquireEndpoint(ctx, id, timeout)
	if v != proceed {
		return v
	}
	if bulk {
		select {
		case l.bulk <- struct{}{}:
		case <-ctx.Done():
			l.releaseEndpoint(id, 0, false)
			return cancelled
		}
	}
	select {
	case l.attempts <- struct{}{}:
		l.sending(id)
		return proceed
	default:
	}
	select {
	case l.attempts <- struct{}{}:
		l.sending(id)
		return proceed
	case <-ctx.Done():
		if bulk {
			<-l.bulk
		}
		l.releaseEndpoint(id, 0, false)
		return cancelled
	}
}

// sending counts an attempt under way, which starts the silence clock of
// an endpoint that had none.
func (l *Limits) sending(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.eps[id]
	if e.sending == 0 {
		e.answered = l.now()
	}
	e.sending++
}

// release gives back the slots acquire took, with the attempt's outcome.
func (l *Limits) release(id string, latency time.Duration, timedOut, bulk bool) {
	<-l.attempts
	if bulk {
		<-l.bulk
	}
	l.mu.Lock()
	l.eps[id].sending--
	l.mu.Unlock()
	l.releaseEndpoint(id, latency, timedOut)
}

// acquireEndpoint takes a slot of the endpoint: at once when its window has
// room, after a wait while it answers, never once it is slow (moveOn).
func (l *Limits) acquireEndpoint(ctx context.Context, id string, timeout time.Duration) verdict {
	now := l.now()
	l.mu.Lock()
	e := l.eps[id]
	if e == nil {
		e = &endpointLoad{window: l.initialWindow()}
		l.eps[id] = e
	}
	e.limit = slowAfter(timeout)
	if e.inFlight < e.window {
		e.inFlight++
		l.mu.Unlock()
		return proceed
	}
	if e.slow(now) {
		l.mu.Unlock()
		return moveOn
	}
	ch := make(chan struct{}, 1)
	e.waiters = append(e.waiters, ch)
	limit := e.limit
	l.mu.Unlock()

	// Look again a few times while waiting: an endpoint that stops
	// answering is slow before the wait is over.
	deadline := now.Add(limit)
	t := time.NewTimer(limit / 4)
	defer t.Stop()
	for {
		select {
		case <-ch:
			return proceed
		case <-ctx.Done():
			if l.leave(e, ch) {
				return cancelled
			}
			l.releaseEndpoint(id, 0, false) // granted meanwhile: give it back
			return cancelled
		case now := <-t.C:
			l.mu.Lock()
			giveUp := !now.Before(deadline) || e.slow(now)
			l.mu.Unlock()
			if giveUp {
				if l.leave(e, ch) {
					return moveOn
				}
				return proceed // granted meanwhile
			}
			t.Reset(min(limit/4, deadline.Sub(now)))
		}
	}
}

// leave takes a waiter out of the queue. It reports false when the waiter
// was granted a slot before it could leave.
func (l *Limits) leave(e *endpointLoad, ch chan struct{}) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, w := range e.waiters {
		if w == ch {
			e.waiters = append(e.waiters[:i], e.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// releaseEndpoint frees the endpoint's slot, folds the attempt's latency
// into the endpoint's average (a timeout counts as its full duration),
// resizes its window, and hands the freed slots to the tasks waiting for
// them. A zero latency gives back a slot that was not used.
func (l *Limits) releaseEndpoint(id string, latency time.Duration, timedOut bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.eps[id]
	e.inFlight--
	if latency > 0 || timedOut {
		e.answered = now
		// An exponentially weighted average over about the last 8 attempts.
		e.latency += (latency - e.latency) / 8
		if timedOut {
			e.latency = max(e.latency, latency)
		}
		if timedOut || e.slow(now) {
			e.window = l.initialWindow()
		} else if latency < e.limit {
			e.window = min(l.PerEndpoint, e.window+1)
		}
	}
	for e.inFlight < e.window && len(e.waiters) > 0 {
		ch := e.waiters[0]
		e.waiters = e.waiters[1:]
		e.inFlight++
		ch <- struct{}{}
	}
}
