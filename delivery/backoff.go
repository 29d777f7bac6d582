package delivery

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Schedule lists the delays of the retry tiers, shortest first, for example
// 1m,10m,1h,6h,24h. Tier i is the (i+2)th attempt: after the first send
// fails, the delivery waits in tier 0.
type Schedule []time.Duration

// ParseSchedule parses a comma-separated list of delays such as
// "1m,10m,1h,6h,1d". Each item is a time.ParseDuration string, optionally
// led by a whole number of days ("1d", "1d12h"). Delays must be positive
// and strictly increasing; the list must not be empty.
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("delivery: parse schedule: empty")
	}
	var out Schedule
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		d, err := parseDelay(item)
		if err != nil {
			return nil, fmt.Errorf("delivery: parse schedule: %w", err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("delivery: parse schedule: delay %q is not positive", item)
		}
		if n := len(out); n > 0 && d <= out[n-1] {
			return nil, fmt.Errorf("delivery: parse schedule: delay %q is not longer than %s", item, out[n-1])
		}
		out = append(out, d)
	}
	return out, nil
}

// parseDelay parses a time.ParseDuration string, optionally led by whole days.
func parseDelay(item string) (time.Duration, error) {
	if item == "" {
		return 0, errors.New("empty delay")
	}
	var days time.Duration
	if i := strings.IndexByte(item, 'd'); i >= 0 {
		n, err := strconv.ParseUint(item[:i], 10, 16)
		if err != nil || n > math.MaxInt64/uint64(24*time.Hour) {
			return 0, fmt.Errorf("delay %q: bad day count", item)
		}
		days = time.Duration(n) * 24 * time.Hour
		item = item[i+1:]
		if item == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(item)
	if err != nil {
		return 0, err
	}
	if d > math.MaxInt64-days {
		return 0, fmt.Errorf("delay %q: too long", item)
	}
	return days + d, nil
}

// TierName returns the shortest name of a delay, fit for a topic suffix:
// "30s", "1m", "10m", "1h", "6h", "24h", "1h30m". It is time.Duration's
// String without trailing zero units, with "us" for "µs" since topic names
// are ASCII.
func TierName(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
	}
	return strings.ReplaceAll(s, "µ", "u")
}

// TierForRetryAfter returns the first tier at index min or later whose
// delay is at least ra, or the last tier when none is that long: a
// receiver's Retry-After can move a delivery to a later tier, never an
// earlier one. ok is false, and tier -1, when min is past the last tier.
// min below 0 counts as 0.
func (s Schedule) TierForRetryAfter(min int, ra time.Duration) (tier int, ok bool) {
	if min < 0 {
		min = 0
	}
	if min >= len(s) {
		return -1, false
	}
	for i := min; i < len(s); i++ {
		if s[i] >= ra {
			return i, true
		}
	}
	return len(s) - 1, true
}

// Jitter spreads d uniformly over [d*(1-frac), d*(1+frac)]: it returns
// d*(1-frac+2*frac*u) for u in [0,1), such as rand.Float64(). frac is
// clamped to [0,1) and u to [0,1); NaN counts as 0. Durations that are not
// positive are returned unchanged.
func Jitter(d time.Duration, frac, u float64) time.Duration {
	if d <= 0 {
		return d
	}
	frac = clampUnit(frac)
	u = clampUnit(u)
	f := float64(d) * (1 - frac + 2*frac*u)
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
}

// clampUnit clamps x to [0,1), NaN to 0.
func clampUnit(x float64) float64 {
	switch {
	case math.IsNaN(x) || x < 0:
		return 0
	case x >= 1:
		return math.Nextafter(1, 0)
	default:
		return x
	}
}
