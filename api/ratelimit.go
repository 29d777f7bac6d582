package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a token bucket per tenant: Rate requests per second on
// average, Burst at once. Rate 0 means no limit.
type RateLimit struct {
	Rate  float64
	Burst int
}

// sweepEvery is how often a tenantBuckets drops the buckets that have
// filled up again.
const sweepEvery = time.Minute

// tenantBuckets holds one token bucket per tenant for one kind of request,
// on this instance only (instances do not share them). A bucket that has
// filled up again cannot be told from a new one, so such buckets are
// dropped: memory holds the tenants active within about one refill time
// (Burst/Rate) plus sweepEvery, whatever the number of tenants.
type tenantBuckets struct {
	limit RateLimit
	now   func() time.Time

	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

// take spends a token of the tenant's bucket. When the bucket is empty, it
// spends nothing and returns how long until a token is there.
func (b *tenantBuckets) take(tenant string) (wait time.Duration, ok bool) {
	if b.limit.Rate <= 0 {
		return 0, true
	}
	now := b.now()
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
		lim = rate.NewLimiter(rate.Limit(b.limit.Rate), max(b.limit.Burst, 1))
		b.m[tenant] = lim
	}
	if lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - lim.TokensAt(now)
	return time.Duration(missing / b.limit.Rate * float64(time.Second)), false
}

// sweep drops the buckets that are full at now; b.mu must be held.
func (b *tenantBuckets) sweep(now time.Time) {
	for tenant, lim := range b.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(b.m, tenant)
		}
	}
	b.swept = now
}

// len returns the number of buckets held.
func (b *tenantBuckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// limited serves h within the tenant's bucket of b, and answers 429 with
// Retry-After (whole seconds, at least 1) when it is empty.
func (s *Server) limited(b *tenantBuckets, what string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, tenant string) {
		wait, ok := b.take(tenant)
		if ok {
			h(w, r, tenant)
			return
		}
		secs := retryAfter(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeProblem(w, problem(http.StatusTooManyRequests, "tenant "+strconv.Quote(tenant)+" is over its limit of "+
			strconv.FormatFloat(b.limit.Rate, 'g', -1, 64)+" "+what+" per second (bursts of "+strconv.Itoa(max(b.limit.Burst, 1))+
			") on this API instance; retry in "+strconv.Itoa(secs)+" s"))
	}
}

// retryAfter rounds a wait up to whole seconds, at least 1.
func retryAfter(wait time.Duration) int {
	secs := math.Ceil(wait.Seconds())
	switch {
	case secs < 1:
		return 1
	case secs > math.MaxInt32:
		return math.MaxInt32
	}
	return int(secs)
}
