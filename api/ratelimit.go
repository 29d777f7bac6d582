package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/quota"
)

// RateLimit is a token bucket per tenant: Rate requests per second on
// average, Burst at once. Rate 0 means no limit.
type RateLimit = quota.Limit

// limited serves h within the tenant's bucket of b, and answers 429 with
// Retry-After (whole seconds, at least 1) when it is empty.
func (s *Server) limited(b *quota.Buckets, what string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, tenant string) {
		wait, ok := b.Take(tenant, 1)
		if ok {
			h(w, r, tenant)
			return
		}
		secs := retryAfter(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeProblem(w, problem(http.StatusTooManyRequests, "tenant "+strconv.Quote(tenant)+" is over its limit of "+
			strconv.FormatFloat(b.Limit.Rate, 'g', -1, 64)+" "+what+" per second (bursts of "+strconv.Itoa(max(b.Limit.Burst, 1))+
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
