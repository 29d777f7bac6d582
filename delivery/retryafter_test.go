package delivery

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestSendRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		min, max time.Duration
	}{
		{"absent", "", 0, 0},
		{"seconds", "120", 120 * time.Second, 120 * time.Second},
		{"zero", "0", 0, 0},
		{"http date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 58 * time.Minute, time.Hour},
		{"past date", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{"negative", "-5", 0, 0},
		{"garbage", "soon", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			res := newTestSender(t, SenderOptions{Guard: allowLoopback}).Send(context.Background(), Request{URL: srv.URL})
			if res.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("status %d, err %v", res.StatusCode, res.Err)
			}
			if res.RetryAfter < tt.min || res.RetryAfter > tt.max {
				t.Fatalf("RetryAfter = %v, want in [%v, %v]", res.RetryAfter, tt.min, tt.max)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"0", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"86400", 24 * time.Hour},
		{"99999999999999999999999", maxRetryAfter},
		{"999999999999", maxRetryAfter},
		{"-1", 0},
		{"+5", 0},
		{"1.5", 0},
		{"Sat, 01 Mar 2025 12:01:30 GMT", 90 * time.Second},
		{"Saturday, 01-Mar-25 12:01:30 GMT", 90 * time.Second}, // RFC 850
		{"Sat Mar  1 12:01:30 2025", 90 * time.Second},         // asctime
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0},
		{"Sat, 01 Mar 2125 12:00:00 GMT", maxRetryAfter},
		{"tomorrow", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
