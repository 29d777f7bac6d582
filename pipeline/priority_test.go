package pipeline

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestPriorityHalvesHoldsAndRaisesTheBulkLanes(t *testing.T) {
	p := NewPriority(50*time.Millisecond, 100)
	l := p.Lane()
	const tick = 100 * time.Millisecond
	// tickAt runs one interval in which the lane started n tasks and the
	// fast lane's worst wait was wait (0: no fast-lane work).
	tickAt := func(n int64, wait time.Duration) float64 {
		l.done.Add(n)
		if wait > 0 {
			p.Observe(wait)
		}
		p.tick(tick)
		return l.Limit()
	}

	// On time: the lane stays unbound, whatever it does.
	if got := tickAt(1000, 25*time.Millisecond); !math.IsInf(got, 1) {
		t.Fatalf("on time: limit %v, want +Inf", got)
	}
	// Late: half of what it has been doing (10,000/s, smoothed).
	l.rate = 10000
	if got := tickAt(1000, 80*time.Millisecond); got != 5000 {
		t.Fatalf("late: limit %v, want 5000 (half of 10,000/s)", got)
	}
	// Busy but on time (over half the target, under it): held.
	for range 3 {
		if got := tickAt(500, 30*time.Millisecond); got != 5000 {
			t.Fatalf("between half the target and the target: limit %v, want it held at 5000", got)
		}
	}
	// Late while doing less than its limit: half of what it did, never
	// under Min.
	l.rate = 1000
	if got := tickAt(100, time.Second); got != 500 {
		t.Fatalf("late, doing 1,000/s under a limit of 5,000: limit %v, want 500", got)
	}
	for range 10 {
		tickAt(0, time.Second)
	}
	if got := l.Limit(); got != 100 {
		t.Fatalf("late and idle: limit %v, want the minimum 100", got)
	}
	// Calm: raised a quarter, then faster while it stays calm (up to
	// double); an idle interval does not unbind it at once.
	for i, want := range []float64{125, 187.5, 328.125, 656.25, 1312.5} {
		if got := tickAt(0, 0); got != want {
			t.Fatalf("calm interval %d: limit %v, want %v", i+1, got, want)
		}
	}
	// Unbound once calm for a second with the limit far over what it does.
	for range calmTicks {
		tickAt(1, 0)
	}
	if got := l.Limit(); !math.IsInf(got, 1) {
		t.Fatalf("calm for a second: limit %v, want +Inf", got)
	}
}

func TestPriorityIgnoresWhatIsNotLateness(t *testing.T) {
	var none *Priority
	none.Observe(time.Hour) // a nil Priority hears nothing
	if d, _ := none.Lane().reserve(1e6, time.Now()); d != 0 {
		t.Error("a lane of no Priority waits")
	}
	for _, c := range []struct {
		target, wait time.Duration
	}{
		{0, time.Minute}, // no target: never yields
		{50 * time.Millisecond, 20 * time.Millisecond}, // under half the target: calm
		{50 * time.Millisecond, -time.Hour},            // a clock that went back
		{50 * time.Millisecond, 2 * time.Hour},
	} {
		p := NewPriority(c.target, 10)
		l := p.Lane()
		l.done.Add(100)
		p.Observe(c.wait)
		p.tick(100 * time.Millisecond)
		if !math.IsInf(l.Limit(), 1) {
			t.Errorf("target %v, wait %v: limit %v, want +Inf", c.target, c.wait, l.Limit())
		}
	}
}

func TestLanePacesWithoutABurst(t *testing.T) {
	l := (*Priority)(nil).Lane()
	l.limit.Store(math.Float64bits(10)) // 10 tasks a second
	now := time.Now()
	for i, want := range []struct {
		n    int
		wait time.Duration
	}{{1, 0}, {1, 100 * time.Millisecond}, {5, 200 * time.Millisecond}, {1, 700 * time.Millisecond}} {
		if got, _ := l.reserve(want.n, now); got != want.wait {
			t.Errorf("reservation %d of %d tasks: wait %v, want %v", i, want.n, got, want.wait)
		}
	}
	// Idle for a minute: no credit saved up, the next waits its own turn.
	later := now.Add(time.Minute)
	if got, _ := l.reserve(1, later); got != 0 {
		t.Errorf("after a minute idle: wait %v, want 0", got)
	}
	if got, _ := l.reserve(1, later); got != 100*time.Millisecond {
		t.Errorf("right after: wait %v, want 100ms (no burst)", got)
	}
	// Wait gives up when the context ends, and bounds its wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.reserve(100, time.Now())
	if err := l.Wait(ctx, 1, 0); err == nil {
		t.Error("Wait returned nil on an ended context with a turn 10 s away")
	}
	// Its turn is 10 s away: bounded to 1 ms, it returns before ctx ends.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Wait(ctx, 1, time.Millisecond); err != nil {
		t.Errorf("a Wait bounded to 1 ms for a turn 10 s away: %v", err)
	}
}

// A task asleep on a turn of a low limit wakes when the limit is raised or
// lifted: turns of the old rate are void (a backlog's last tasks used to
// trickle out at the minimum rate for seconds after the fast lane was on
// time again).
func TestLaneWaitersWakeWhenTheLimitChanges(t *testing.T) {
	l := (*Priority)(nil).Lane()
	l.set(1) // one task a second
	t0 := time.Now()
	l.reserve(100, t0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	woke := make(chan error, 1)
	go func() { woke <- l.Wait(ctx, 1, 0) }() // its turn is 100 s away
	testenv.Eventually(t, 10*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.next.Sub(t0) > 100*time.Second
	}, "the waiter never took its turn, 100 s away")
	l.set(math.Inf(1))
	if err := <-woke; err != nil {
		t.Fatalf("Wait after the limit was lifted: %v (it slept on its old turn until the context ended)", err)
	}
	if got := l.done.Load(); got != 1 {
		t.Errorf("tasks counted as started: %d, want 1", got)
	}
	// A lowered limit voids the turns of the higher one too: the next
	// turn is counted at the new rate from now.
	l.set(10)
	l.reserve(1, time.Now())
	l.set(1)
	if d, _ := l.reserve(1, time.Now()); d != 0 {
		t.Errorf("first turn after a change of limit: wait %v, want 0", d)
	}
	if d, _ := l.reserve(1, time.Now()); d < 900*time.Millisecond {
		t.Errorf("second turn at 1/s: wait %v, want about 1 s", d)
	}
}

// The bulk lanes yield to other tenants' fast-lane work, not to that of a
// tenant whose own events are in the bulk lanes: one tenant's burst,
// late behind itself, would only slow itself.
func TestPriorityYieldsOnlyToTenantsWithoutBulkWork(t *testing.T) {
	p := NewPriority(50*time.Millisecond, 100)
	l := p.Lane()
	const tick = 100 * time.Millisecond
	p.Forwarded("a")
	if !p.InBulk("a") || p.InBulk("b") {
		t.Fatalf("InBulk a %v, b %v; want true, false", p.InBulk("a"), p.InBulk("b"))
	}
	l.done.Add(1000)
	p.ObserveTenant("a", time.Second)
	p.tick(tick)
	if !math.IsInf(l.Limit(), 1) {
		t.Fatalf("late work of the tenant in the bulk lanes: limit %v, want +Inf", l.Limit())
	}
	l.rate = 10000
	l.done.Add(1000) // 10,000/s, as before
	p.ObserveTenant("b", time.Second)
	p.tick(tick)
	if got := l.Limit(); got != 5000 {
		t.Fatalf("late work of another tenant: limit %v, want 5000", got)
	}
	// After bulkMemory without a forward, a's work counts again, and the
	// tick forgets a.
	p.mu.Lock()
	p.bulk["a"] = time.Now().Add(-bulkMemory)
	p.mu.Unlock()
	p.tick(tick)
	p.mu.Lock()
	_, kept := p.bulk["a"]
	p.mu.Unlock()
	if kept || p.InBulk("a") {
		t.Fatal("a tenant not forwarded for bulkMemory is still in the bulk lanes")
	}
	// A nil Priority hears nothing and knows no tenant.
	var none *Priority
	none.Forwarded("a")
	none.ObserveTenant("a", time.Hour)
	if none.InBulk("a") {
		t.Error("a nil Priority has tenants in the bulk lanes")
	}
}
