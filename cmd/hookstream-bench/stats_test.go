package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"median of even takes lower", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is max", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p is min", ms(hundred...), 0.001, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSortsAndReports(t *testing.T) {
	in := []time.Duration{40 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 20 * time.Millisecond}
	s := Summarize(in)
	want := Summary{N: 4, P50: 20, P90: 40, P99: 40, Max: 40}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if Summarize(nil) != (Summary{}) {
		t.Errorf("Summarize(nil) is not zero")
	}
}

func TestSustained(t *testing.T) {
	t0 := time.Unix(100, 0)
	tests := []struct {
		n    int64
		last time.Time
		want float64
	}{
		{0, t0, 0},
		{1, t0, 0},
		{2, t0, 0}, // no time elapsed
		{11, t0.Add(time.Second), 10},
		{1001, t0.Add(500 * time.Millisecond), 2000},
	}
	for _, tt := range tests {
		if got := Sustained(tt.n, t0, tt.last); got != tt.want {
			t.Errorf("Sustained(%d, %v) = %v, want %v", tt.n, tt.last.Sub(t0), got, tt.want)
		}
	}
}

func TestEventBodyRoundTrip(t *testing.T) {
	b := eventBody(12345, 1700000000123456789, "xxxx")
	seq, pub, ok := parseBody(b)
	if !ok || seq != 12345 || pub != 1700000000123456789 {
		t.Fatalf("parseBody(%s) = %d, %d, %v", b, seq, pub, ok)
	}
	if _, _, ok := parseBody([]byte(`{"other":1}`)); ok {
		t.Errorf("parseBody accepted a foreign body")
	}
}
