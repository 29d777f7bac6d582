package api

import (
	"testing"
	"time"
)

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
