package api

import (
	"strconv"
	"testing"
	"time"
)

func TestTenantBuckets(t *testing.T) {
	start := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	type step struct {
		at       time.Duration // since start
		tenant   string
		ok       bool
		wait     time.Duration // when refused
		retryHdr int
	}
	tests := []struct {
		name  string
		limit RateLimit
		steps []step
	}{
		{"no limit", RateLimit{}, []step{{0, "a", true, 0, 0}, {0, "a", true, 0, 0}, {0, "a", true, 0, 0}}},
		{"burst of one", RateLimit{Rate: 1, Burst: 1}, []step{
			{0, "a", true, 0, 0},
			{0, "a", false, time.Second, 1},
			{400 * time.Millisecond, "a", false, 600 * time.Millisecond, 1},
			{time.Second, "a", true, 0, 0},
			{0, "b", true, 0, 0}, // another tenant's bucket
		}},
		{"burst then rate", RateLimit{Rate: 2, Burst: 3}, []step{
			{0, "a", true, 0, 0}, {0, "a", true, 0, 0}, {0, "a", true, 0, 0},
			{0, "a", false, 500 * time.Millisecond, 1},
			{500 * time.Millisecond, "a", true, 0, 0},
			{500 * time.Millisecond, "a", false, 500 * time.Millisecond, 1},
		}},
		{"slow rate", RateLimit{Rate: 0.1, Burst: 1}, []step{
			{0, "a", true, 0, 0},
			{time.Second, "a", false, 9 * time.Second, 9},
		}},
		{"burst 0 counts as 1", RateLimit{Rate: 1}, []step{{0, "a", true, 0, 0}, {0, "a", false, time.Second, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			b := tenantBuckets{limit: tt.limit, now: func() time.Time { return now }}
			for i, s := range tt.steps {
				now = start.Add(s.at)
				wait, ok := b.take(s.tenant)
				if ok != s.ok || !ok && (wait != s.wait || retryAfter(wait) != s.retryHdr) {
					t.Errorf("step %d (%s at %v): ok %v, wait %v (Retry-After %d); want %v, %v (%d)",
						i, s.tenant, s.at, ok, wait, retryAfter(wait), s.ok, s.wait, s.retryHdr)
				}
			}
		})
	}
}

// TestTenantBucketsForgetIdleTenants: memory holds the tenants active
// lately, not every tenant ever seen.
func TestTenantBucketsForgetIdleTenants(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	b := tenantBuckets{limit: RateLimit{Rate: 10, Burst: 20}, now: func() time.Time { return now }}
	for i := range 1000 {
		b.take("t" + strconv.Itoa(i))
	}
	busy := "t0"
	for range 19 {
		b.take(busy) // t0's bucket is empty
	}
	if n := b.len(); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	// Within a sweep period nothing goes.
	now = now.Add(sweepEvery / 2)
	b.take("new")
	if n := b.len(); n != 1001 {
		t.Errorf("%d buckets before the sweep, want 1001", n)
	}
	// A full bucket is as good as none: after a sweep only those still
	// refilling stay.
	now = now.Add(sweepEvery / 2)
	for range 20 {
		b.take(busy)
	}
	if _, ok := b.take(busy); ok {
		t.Fatal("the busy tenant's bucket was reset by the sweep")
	}
	if n := b.len(); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (the busy tenant's)", n)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want int
	}{
		{0, 1}, {time.Nanosecond, 1}, {999 * time.Millisecond, 1}, {time.Second, 1},
		{time.Second + time.Nanosecond, 2}, {90 * time.Second, 90}, {1 << 62, 1<<31 - 1},
	} {
		if got := retryAfter(tt.wait); got != tt.want {
			t.Errorf("retryAfter(%v) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}
