package pipeline

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestPriorityHalvesTheBulkLanesWhileTheFastLaneIsLate(t *testing.T) {
	p := NewPriority(50*time.Millisecond, 100)
	l := p.Lane()
	const tick = 100 * time.Millisecond

	// On time: the lane stays unbound, whatever it does.
	l.done.Add(1000)
	p.Observe(50 * time.Millisecond) // at the target is on time
	p.tick(tick)
	if !math.IsInf(l.Limit(), 1) {
		t.Fatalf("on time: limit %v, want +Inf", l.Limit())
	}
	// Late: half of what the lane did (1,000 tasks in 100 ms).
	l.done.Add(1000)
	p.Observe(80 * time.Millisecond)
	p.tick(tick)
	if l.Limit() != 5000 {
		t.Fatalf("late: limit %v, want 5000 (half of 10,000/s)", l.Limit())
	}
	// Late again, doing less than its limit: half of what it did, never
	// under Min.
	l.done.Add(100)
	p.Observe(time.Second)
	p.tick(tick)
	if l.Limit() != 500 {
		t.Fatalf("late again: limit %v, want 500", l.Limit())
	}
	p.Observe(time.Second)
	p.tick(tick)
	if l.Limit() != 100 {
		t.Fatalf("late and idle: limit %v, want the minimum 100", l.Limit())
	}
	// On time: a quarter more each tick while it works at its limit …
	l.done.Add(10)
	p.tick(tick)
	if l.Limit() != 125 {
		t.Fatalf("on time again: limit %v, want 125", l.Limit())
	}
	// … unbound once the limit is far over what it does.
	for range 10 {
		l.done.Add(1)
		p.tick(tick)
	}
	if !math.IsInf(l.Limit(), 1) {
		t.Fatalf("on time for a second: limit %v, want +Inf", l.Limit())
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
		{0, time.Minute},                    // no target: never yields
		{50 * time.Millisecond, -time.Hour}, // a clock that went back
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
