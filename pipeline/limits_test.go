package pipeline

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

// done is a context that has ended: a task that would wait for a slot
// returns cancelled at once, one that moves on returns moveOn.
var done = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// fill takes n slots of id and fails unless every one proceeds.
func fill(t *testing.T, l *Limits, id string, timeout time.Duration, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if v := l.acquire(context.Background(), id, timeout, false); v != proceed {
			t.Fatalf("%s: slot %d: %v, want proceed", id, i, v)
		}
	}
}

// clock is a clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fakeClock makes l measure silences and latencies on a clock the test
// moves, so that a busy machine cannot make time pass between two checks.
func fakeClock(l *Limits) *clock {
	c := &clock{t: time.Now()}
	l.now = c.now
	return c
}

// answerTimely answers n attempts of id in 1 ms, taking a slot again after
// each, and returns the endpoint's window.
func answerTimely(t *testing.T, l *Limits, id string, n int) int {
	t.Helper()
	for i := 0; i < n; i++ {
		l.release(id, time.Millisecond, false, false)
		fill(t, l, id, time.Second, 1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.eps[id].window
}

func TestLimitsSlowStart(t *testing.T) {
	l := NewLimits(16, 1000)
	// An endpoint nobody knows yet starts with an eighth of the cap.
	fill(t, l, "new", time.Second, 2)
	if v := l.acquire(done, "new", time.Second, false); v != cancelled {
		t.Fatalf("past the initial window: %v, want a wait (cancelled by the done context)", v)
	}
	// Each timely answer widens the window by one, up to the cap.
	if w := answerTimely(t, l, "new", 40); w != 16 {
		t.Fatalf("window after 40 timely answers: %d, want the cap 16", w)
	}
	for i := 0; i < 2; i++ {
		l.release("new", time.Millisecond, false, false)
	}
	fill(t, l, "new", time.Second, 16-2)
	// Another endpoint is not affected by the first one's window.
	fill(t, l, "other", time.Second, 2)
}

func TestLimitsWaitWhileAnswering(t *testing.T) {
	ctx := context.Background()
	l := NewLimits(8, 1000) // window 1
	fill(t, l, "fast", time.Second, 1)
	// A fast endpoint with its window full: the task waits for a slot.
	got := make(chan verdict, 1)
	go func() { got <- l.acquire(ctx, "fast", time.Second, false) }()
	select {
	case v := <-got:
		t.Fatalf("acquire with the window full returned %v before a slot was freed", v)
	case <-time.After(50 * time.Millisecond):
	}
	l.release("fast", time.Millisecond, false, false)
	if v := <-got; v != proceed {
		t.Fatalf("after a release: %v, want proceed", v)
	}
	// The answer widened the window to 2: one more proceeds, the next waits.
	fill(t, l, "fast", time.Second, 1)
	l.mu.Lock()
	in, w := l.eps["fast"].inFlight, l.eps["fast"].window
	l.mu.Unlock()
	if in != 2 || w != 2 {
		t.Fatalf("in flight %d, window %d; want 2 and 2", in, w)
	}

	// Waiting ends with the context, and leaves the slot count alone.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if v := l.acquire(cctx, "fast", time.Second, false); v != cancelled {
		t.Fatalf("cancelled wait: %v, want cancelled", v)
	}
	l.mu.Lock()
	in, waiting := l.eps["fast"].inFlight, len(l.eps["fast"].waiters)
	l.mu.Unlock()
	if in != 2 || waiting != 0 {
		t.Fatalf("after a cancelled wait: in flight %d, waiting %d; want 2 and 0", in, waiting)
	}
}

func TestLimitsSlowEndpointMovesOn(t *testing.T) {
	l := NewLimits(16, 1000) // an eighth: 2
	fill(t, l, "slow", time.Second, 2)
	l.release("slow", time.Second, true, false) // a timeout: slow from now on
	fill(t, l, "slow", time.Second, 1)
	// At a slow endpoint's window, tasks move on at once: with a done
	// context, a task that waited would end cancelled.
	if v := l.acquire(done, "slow", time.Second, false); v != moveOn {
		t.Fatalf("slow endpoint with its window full: %v, want moveOn without a wait", v)
	}
	// Timely answers make it fast again, and its window grows back.
	w := answerTimely(t, l, "slow", 20)
	l.mu.Lock()
	fast := l.eps["slow"].latency < l.eps["slow"].limit
	l.mu.Unlock()
	if !fast || w <= 2 {
		t.Fatalf("after 20 timely answers: fast %v, window %d; want fast and a window past 2", fast, w)
	}
}

func TestLimitsSilentEndpointIsSlow(t *testing.T) {
	l := NewLimits(16, 1000)
	clock := fakeClock(l)
	// Attempts in flight and no answer for half the timeout: the endpoint
	// is slow before any of its attempts has timed out, and a new task
	// moves on at once instead of waiting.
	fill(t, l, "silent", 100*time.Millisecond, 2)
	if v := l.acquire(done, "silent", 100*time.Millisecond, false); v != cancelled {
		t.Fatalf("answering so far: %v, want a wait (cancelled by the done context)", v)
	}
	clock.advance(60 * time.Millisecond)
	if v := l.acquire(done, "silent", 100*time.Millisecond, false); v != moveOn {
		t.Fatalf("no answer for half the timeout: %v, want moveOn without a wait", v)
	}
	// An answer, even a late one, shows it alive: tasks wait again.
	l.release("silent", 40*time.Millisecond, false, false)
	if v := l.acquire(done, "silent", 100*time.Millisecond, false); v != proceed {
		t.Fatalf("after an answer, with room in the window: %v, want proceed", v)
	}
}

func TestLimitsAttemptSlots(t *testing.T) {
	ctx := context.Background()
	l := NewLimits(16, 3) // windows of 2, three attempts in all
	fill(t, l, "a", time.Second, 2)
	fill(t, l, "b", time.Second, 1)
	// Every attempt slot is taken: a task for a third endpoint waits for
	// one, whatever its endpoint's window.
	if v := l.acquire(done, "c", time.Second, false); v != cancelled {
		t.Fatalf("no attempt slot free: %v, want a wait (cancelled by the done context)", v)
	}
	// A task waiting for a full endpoint window holds no attempt slot: "a"
	// is at its window of 2, its next task waits, and "c" still gets the
	// slot "b" gives back.
	waiting := make(chan verdict, 1)
	go func() { waiting <- l.acquire(ctx, "a", time.Second, false) }()
	for {
		l.mu.Lock()
		n := len(l.eps["a"].waiters)
		l.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	l.release("b", time.Millisecond, false, false)
	if v := l.acquire(ctx, "c", time.Second, false); v != proceed {
		t.Fatalf("attempt slot freed while a task waits for a's window: %v, want proceed", v)
	}
	l.release("a", time.Millisecond, false, false)
	if v := <-waiting; v != proceed {
		t.Fatalf("a's waiting task, once a answered: %v, want proceed", v)
	}
}

// Waiting for an attempt slot is not the endpoint's silence: its clock
// starts with an attempt under way.
func TestLimitsWaitForAttemptSlotIsNotSilence(t *testing.T) {
	ctx := context.Background()
	l := NewLimits(16, 1) // windows of 2, one attempt in all
	clock := fakeClock(l)
	fill(t, l, "a", 100*time.Millisecond, 1)
	got := make(chan verdict, 2)
	for i := 0; i < 2; i++ { // b's whole window, both waiting for the attempt slot
		go func() { got <- l.acquire(ctx, "b", 100*time.Millisecond, false) }()
	}
	for {
		l.mu.Lock()
		e := l.eps["b"]
		full := e != nil && e.inFlight == 2
		l.mu.Unlock()
		if full {
			break
		}
		time.Sleep(time.Millisecond)
	}
	clock.advance(80 * time.Millisecond) // past half b's timeout
	if v := l.acquire(done, "b", 100*time.Millisecond, false); v != cancelled {
		t.Fatalf("b has sent nothing yet: %v, want a wait (cancelled by the done context), not moveOn", v)
	}
	// The attempt slot passes from a to one of b's tasks, then to the other.
	l.release("a", time.Millisecond, false, false)
	if v := <-got; v != proceed {
		t.Fatalf("b's first task once the attempt slot was free: %v, want proceed", v)
	}
	l.release("b", time.Millisecond, false, false)
	if v := <-got; v != proceed {
		t.Fatalf("b's second task: %v, want proceed", v)
	}
	l.release("b", time.Millisecond, false, false)
}

// The bulk lane takes at most three quarters of the attempt slots: with
// them all taken, a fast-lane task still gets one at once, and a bulk task
// waits.
func TestBulkLaneLeavesSlotsForTheFastLane(t *testing.T) {
	l := NewLimits(100, 8)
	ctx := context.Background()
	for i := range 6 {
		if v := l.acquire(ctx, "bulk"+strconv.Itoa(i), time.Second, true); v != proceed {
			t.Fatalf("bulk task %d: %v, want proceed", i, v)
		}
	}
	done, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if v := l.acquire(done, "bulk-more", time.Second, true); v != cancelled {
		t.Fatalf("a seventh bulk task of eight slots: %v, want it to wait (cancelled)", v)
	}
	if v := l.acquire(ctx, "fast", time.Second, false); v != proceed {
		t.Fatalf("fast-lane task with the bulk share taken: %v, want proceed", v)
	}
	l.release("bulk0", time.Millisecond, false, true)
	if v := l.acquire(ctx, "bulk-more", time.Second, true); v != proceed {
		t.Fatalf("bulk task after one bulk slot came back: %v, want proceed", v)
	}
}
