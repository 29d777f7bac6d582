// Package quota holds token buckets per tenant: how much a tenant may do
// per second on this instance (API calls, events published, tasks in the
// fast delivery lane). Buckets live in memory and are not shared between
// instances; memory holds the tenants active lately, not every tenant ever
// seen.
package quota

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Rate tokens per second on average, Burst at
// once. Rate 0 means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// sweepEvery is how often Buckets drops the buckets that have filled up
// again.
const sweepEvery = time.Minute

// Buckets holds one token bucket per tenant. A bucket that has filled up
// again cannot be told from a new one, so such buckets are dropped: memory
// holds the tenants active within about one refill time (Burst/Rate) plus
// a minute, whatever the number of tenants. The zero value has no limit.
type Buckets struct {
	Limit Limit
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

// Take spends n tokens of the tenant's bucket. When the bucket holds fewer,
// it spends nothing and returns how long until it holds n (n above the
// burst never fits: the wait is then that of a full bucket).
func (b *Buckets) Take(tenant string, n int) (wait time.Duration, ok bool) {
	if b.Limit.Rate <= 0 {
		return 0, true
	}
	now := time.Now()
	if b.Now != nil {
		now = b.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m, b.swept = map[string]*rate.Limiter{}, now
	}
	if now.Sub(b.swept) >= sweepEvery {
		b.sweep(now)
	}
	lim := b.m[tenant]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(b.Limit.Rate), max(b.Limit.Burst, 1))
		b.m[tenant] = lim
	}
	if lim.AllowN(now, n) {
		return 0, true
	}
	missing := float64(min(n, lim.Burst())) - lim.TokensAt(now)
	return time.Duration(missing / b.Limit.Rate * float64(time.Second)), false
}

// sweep drops the buckets that are full at now; b.mu must be held.
func (b *Buckets) sweep(now time.Time) {
	for tenant, lim := range b.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(b.m, tenant)
		}
	}
	b.swept = now
}

// Len returns the number of buckets held.
func (b *Buckets) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
