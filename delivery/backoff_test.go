package delivery

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    Schedule
		wantErr bool
	}{
		{"1m,10m,1h,6h,24h", Schedule{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, day}, false},
		{"1m", Schedule{time.Minute}, false},
		{" 30s , 5m ,1h30m ", Schedule{30 * time.Second, 5 * time.Minute, 90 * time.Minute}, false},
		{"1h,1d", Schedule{time.Hour, day}, false},
		{"1d,2d,7d", Schedule{day, 2 * day, 7 * day}, false},
		{"12h,1d12h", Schedule{12 * time.Hour, day + 12*time.Hour}, false},
		{"500ms,1s", Schedule{500 * time.Millisecond, time.Second}, false},
		{"", nil, true},
		{"  ", nil, true},
		{"1m,,10m", nil, true},
		{"1m,", nil, true},
		{"0s", nil, true},
		{"0d", nil, true},
		{"-1m", nil, true},
		{"1m,-1m", nil, true},
		{"10m,1m", nil, true},
		{"1m,1m", nil, true},
		{"1h,60m", nil, true},
		{"5", nil, true},
		{"d", nil, true},
		{"1.5d", nil, true},
		{"-1d", nil, true},
		{"1x", nil, true},
		{"1d1d", nil, true},
		{"99999d", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSchedule(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseSchedule(%q) = %v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParseSchedule(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTierName(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "30s"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{10 * time.Minute, "10m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{6 * time.Hour, "6h"},
		{24 * time.Hour, "24h"},
		{48 * time.Hour, "48h"},
		{1500 * time.Millisecond, "1.5s"},
		{500 * time.Millisecond, "500ms"},
		{500 * time.Microsecond, "500us"},
		{0, "0s"},
	}
	for _, tt := range tests {
		if got := TierName(tt.d); got != tt.want {
			t.Errorf("TierName(%v) = %q, want %q", tt.d, got, tt.want)
		}
		if d, err := time.ParseDuration(tt.want); tt.d >= time.Millisecond && (err != nil || d != tt.d) {
			t.Errorf("TierName(%v) = %q does not parse back: %v, %v", tt.d, tt.want, d, err)
		}
	}
}

func TestTierForRetryAfter(t *testing.T) {
	s := Schedule{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour}
	tests := []struct {
		s        Schedule
		min      int
		ra       time.Duration
		wantTier int
		wantOK   bool
	}{
		{s, 0, 0, 0, true},
		{s, 0, 30 * time.Second, 0, true},
		{s, 0, time.Minute, 0, true},
		{s, 0, time.Minute + 1, 1, true},
		{s, 0, 10 * time.Minute, 1, true},
		{s, 0, 2 * time.Hour, 3, true},
		{s, 0, 48 * time.Hour, 3, true}, // longer than every tier: the last
		{s, 2, 30 * time.Second, 2, true},
		{s, 2, 5 * time.Hour, 3, true},
		{s, 3, 0, 3, true},
		{s, 3, 100 * time.Hour, 3, true},
		{s, 4, time.Minute, -1, false},
		{s, -1, 0, 0, true},
		{nil, 0, time.Minute, -1, false},
	}
	for _, tt := range tests {
		tier, ok := tt.s.TierForRetryAfter(tt.min, tt.ra)
		if tier != tt.wantTier || ok != tt.wantOK {
			t.Errorf("%v.TierForRetryAfter(%d, %v) = %d, %v; want %d, %v",
				tt.s, tt.min, tt.ra, tier, ok, tt.wantTier, tt.wantOK)
		}
	}
}

func TestJitter(t *testing.T) {
	const d = 10 * time.Minute
	almostOne := math.Nextafter(1, 0)
	tests := []struct {
		name     string
		d        time.Duration
		frac, u  float64
		min, max time.Duration
	}{
		{"u=0", d, 0.2, 0, 8 * time.Minute, 8 * time.Minute},
		{"u=0.5", d, 0.2, 0.5, d, d},
		{"u->1", d, 0.2, almostOne, 12*time.Minute - time.Microsecond, 12 * time.Minute},
		{"frac 0", d, 0, 0.9, d, d},
		{"negative frac", d, -0.5, 0.9, d, d},
		{"NaN frac", d, math.NaN(), 0.9, d, d},
		{"frac above 1 clamps below 1", d, 5, 0, 0, time.Microsecond},
		{"u above 1 clamps", d, 0.1, 7, 11*time.Minute - time.Microsecond, 11 * time.Minute},
		{"negative u clamps", d, 0.1, -1, 9 * time.Minute, 9 * time.Minute},
		{"zero d", 0, 0.5, 0.5, 0, 0},
		{"huge d does not overflow", math.MaxInt64, 0.5, almostOne, math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Jitter(tt.d, tt.frac, tt.u)
			if got < tt.min || got > tt.max {
				t.Fatalf("Jitter(%v, %v, %v) = %v, want in [%v, %v]", tt.d, tt.frac, tt.u, got, tt.min, tt.max)
			}
		})
	}
}

func TestJitterRandomWithinBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		d := time.Duration(rng.Int64N(int64(48 * time.Hour)))
		frac := rng.Float64()
		lo := time.Duration(float64(d) * (1 - frac))
		hi := time.Duration(float64(d) * (1 + frac))
		if got := Jitter(d, frac, rng.Float64()); got < lo || got > hi {
			t.Fatalf("Jitter(%v, %v, u) = %v, outside [%v, %v]", d, frac, got, lo, hi)
		}
	}
}
