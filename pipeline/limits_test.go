package pipeline

import (
	"context"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	ctx := context.Background()
	l := NewLimits(2)
	for i := 0; i < 2; i++ {
		if v := l.acquire(ctx, "fast", time.Second); v != proceed {
			t.Fatalf("slot %d: %v, want proceed", i, v)
		}
	}
	// A fast endpoint at its cap: the task waits for a slot.
	got := make(chan verdict, 1)
	go func() { got <- l.acquire(ctx, "fast", time.Second) }()
	select {
	case v := <-got:
		t.Fatalf("acquire at the cap returned %v before a slot was freed", v)
	case <-time.After(50 * time.Millisecond):
	}
	l.release("fast", time.Millisecond, false)
	if v := <-got; v != proceed {
		t.Fatalf("after a release: %v, want proceed", v)
	}

	// Another endpoint is not affected by the first one's cap.
	if v := l.acquire(ctx, "other", time.Second); v != proceed {
		t.Fatalf("other endpoint: %v", v)
	}

	// A slow endpoint (timeouts) at its cap: tasks move on at once.
	for i := 0; i < 2; i++ {
		l.acquire(ctx, "slow", time.Second)
	}
	l.release("slow", time.Second, true)
	l.acquire(ctx, "slow", time.Second)
	if v := l.acquire(ctx, "slow", time.Second); v != moveOn {
		t.Fatalf("slow endpoint at its cap: %v, want moveOn", v)
	}

	// A slow endpoint keeps only an eighth of its cap.
	l3 := NewLimits(16)
	l3.acquire(ctx, "slow16", time.Second)
	l3.release("slow16", time.Second, true) // a timeout: slow from now on
	for i := 0; i < 2; i++ {
		if v := l3.acquire(ctx, "slow16", time.Second); v != proceed {
			t.Fatalf("slow endpoint, slot %d of its 2: %v", i, v)
		}
	}
	if v := l3.acquire(ctx, "slow16", time.Second); v != moveOn {
		t.Fatalf("slow endpoint past an eighth of its cap: %v, want moveOn", v)
	}

	// A wait as long as a slow answer moves the task on: the endpoint is
	// slow even before an attempt of it has finished.
	l2 := NewLimits(1)
	l2.acquire(ctx, "stuck", 100*time.Millisecond)
	if v := l2.acquire(ctx, "stuck", 100*time.Millisecond); v != moveOn {
		t.Fatalf("waited past half the timeout: %v, want moveOn", v)
	}

	// Waiting ends with the context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if v := l.acquire(cctx, "fast", time.Second); v != cancelled {
		t.Fatalf("cancelled wait: %v, want cancelled", v)
	}
}
