package pipeline

import (
	"context"
	"sync"
	"time"
)

// Limits caps the attempts in flight per endpoint, so that one endpoint
// cannot take every slot of the deliverer. An endpoint at its cap makes
// further tasks wait while it answers fast (that is back-pressure, not a
// fault), but once it is slow (its recent latency, or the wait for one of
// its slots, is a good part of its timeout) they move on to a retry tier
// rather than wait for it.
type Limits struct {
	// PerEndpoint is the cap of attempts in flight per endpoint.
	PerEndpoint int

	mu  sync.Mutex
	eps map[string]*endpointLoad
}

type endpointLoad struct {
	slots   chan struct{}
	latency time.Duration // moving average, timeouts counted in full
}

type verdict int

const (
	proceed verdict = iota
	moveOn
	cancelled
)

// NewLimits returns limits of perEndpoint attempts in flight per endpoint.
func NewLimits(perEndpoint int) *Limits {
	return &Limits{PerEndpoint: max(1, perEndpoint), eps: map[string]*endpointLoad{}}
}

func (l *Limits) load(id string) *endpointLoad {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.eps[id]
	if e == nil {
		e = &endpointLoad{slots: make(chan struct{}, l.PerEndpoint)}
		l.eps[id] = e
	}
	return e
}

// slowAfter is the latency (and the longest wait for a slot) past which an
// endpoint counts as slow: half its timeout, at most a second.
func slowAfter(timeout time.Duration) time.Duration {
	limit := time.Second
	if timeout > 0 {
		limit = min(limit, timeout/2)
	}
	return limit
}

// acquire takes a slot of the endpoint: at once when one is free, after a
// short wait when the endpoint is fast, never when it is slow (moveOn). A
// wait that lasts as long as a slow answer means the endpoint is slow too:
// the task moves on rather than hold a slot of its partition.
func (l *Limits) acquire(ctx context.Context, id string, timeout time.Duration) verdict {
	e := l.load(id)
	limit := slowAfter(timeout)
	l.mu.Lock()
	slow := e.latency >= limit
	l.mu.Unlock()
	// A slow endpoint gets an eighth of the cap: a few of them must not
	// take every slot of the deliverer while their attempts time out.
	if slow && len(e.slots) >= max(1, l.PerEndpoint/8) {
		return moveOn
	}
	select {
	case e.slots <- struct{}{}:
		return proceed
	default:
	}
	if slow {
		return moveOn
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case e.slots <- struct{}{}:
		return proceed
	case <-t.C:
		return moveOn
	case <-ctx.Done():
		return cancelled
	}
}

// release frees the slot and folds the attempt's latency into the
// endpoint's average (a timeout counts as its full duration).
func (l *Limits) release(id string, latency time.Duration, timedOut bool) {
	e := l.load(id)
	l.mu.Lock()
	// An exponentially weighted average over about the last 8 attempts.
	e.latency += (latency - e.latency) / 8
	if timedOut {
		e.latency = max(e.latency, latency)
	}
	l.mu.Unlock()
	<-e.slots
}
