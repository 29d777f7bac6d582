package main

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of durations: how many, and the quantiles a
// latency target is stated in.
type Summary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Summarize returns the summary of ds, which it sorts in place. An empty
// set gives a zero Summary.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Summary{
		N:   len(ds),
		P50: ms(Percentile(ds, 50)),
		P90: ms(Percentile(ds, 90)),
		P99: ms(Percentile(ds, 99)),
		Max: ms(ds[len(ds)-1]),
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p % of the values
// do not exceed. It returns 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Rate is events per second of n events spread over d; 0 when d is not
// positive.
func Rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Sustained is the delivery rate from the first to the last arrival: n
// arrivals span n-1 intervals.
func Sustained(n int64, first, last time.Time) float64 {
	if n < 2 {
		return 0
	}
	return Rate(n-1, last.Sub(first))
}
