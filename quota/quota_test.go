package quota

import (
	"strconv"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	start := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	type step struct {
		at     time.Duration // since start
		tenant string
		ok     bool
		wait   time.Duration // when refused
	}
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{"no limit", Limit{}, []step{{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", true, 0}}},
		{"burst of one", Limit{Rate: 1, Burst: 1}, []step{
			{0, "a", true, 0},
			{0, "a", false, time.Second},
			{400 * time.Millisecond, "a", false, 600 * time.Millisecond},
			{time.Second, "a", true, 0},
			{0, "b", true, 0}, // another tenant's bucket
		}},
		{"burst then rate", Limit{Rate: 2, Burst: 3}, []step{
			{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", true, 0},
			{0, "a", false, 500 * time.Millisecond},
			{500 * time.Millisecond, "a", true, 0},
			{500 * time.Millisecond, "a", false, 500 * time.Millisecond},
		}},
		{"slow rate", Limit{Rate: 0.1, Burst: 1}, []step{
			{0, "a", true, 0},
			{time.Second, "a", false, 9 * time.Second},
		}},
		{"burst 0 counts as 1", Limit{Rate: 1}, []step{{0, "a", true, 0}, {0, "a", false, time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			b := Buckets{Limit: tt.limit, Now: func() time.Time { return now }}
			for i, s := range tt.steps {
				now = start.Add(s.at)
				wait, ok := b.Take(s.tenant, 1)
				if ok != s.ok || !ok && wait != s.wait {
					t.Errorf("step %d (%s at %v): ok %v, wait %v; want %v, %v", i, s.tenant, s.at, ok, wait, s.ok, s.wait)
				}
			}
		})
	}
}

// TestBucketsForgetIdleTenants: memory holds the tenants active
// lately, not every tenant ever seen.
func TestBucketsForgetIdleTenants(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	b := Buckets{Limit: Limit{Rate: 10, Burst: 20}, Now: func() time.Time { return now }}
	for i := range 1000 {
		b.Take("t"+strconv.Itoa(i), 1)
	}
	busy := "t0"
	for range 19 {
		b.Take(busy, 1) // t0's bucket is empty
	}
	if n := b.Len(); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	// Within a sweep period nothing goes.
	now = now.Add(sweepEvery / 2)
	b.Take("new", 1)
	if n := b.Len(); n != 1001 {
		t.Errorf("%d buckets before the sweep, want 1001", n)
	}
	// A full bucket is as good as none: after a sweep only those still
	// refilling stay.
	now = now.Add(sweepEvery / 2)
	for range 20 {
		b.Take(busy, 1)
	}
	if _, ok := b.Take(busy, 1); ok {
		t.Fatal("the busy tenant's bucket was reset by the sweep")
	}
	if n := b.Len(); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (the busy tenant's)", n)
	}
}

// Take of several tokens spends them all or none, and says how long until
// that many are there.
func TestBucketsTakeMany(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	b := Buckets{Limit: Limit{Rate: 100, Burst: 50}, Now: func() time.Time { return now }}
	if _, ok := b.Take("a", 40); !ok {
		t.Fatal("40 of a burst of 50 refused")
	}
	if wait, ok := b.Take("a", 20); ok || wait != 100*time.Millisecond {
		t.Errorf("20 more with 10 left: %v, %v; want refused, 100ms", wait, ok)
	}
	now = now.Add(100 * time.Millisecond)
	if _, ok := b.Take("a", 20); !ok {
		t.Error("20 refused once there are 20")
	}
	if wait, ok := b.Take("b", 80); ok || wait != 0 {
		t.Errorf("more than the burst: %v, %v; want refused with a full bucket (no wait helps)", wait, ok)
	}
}
