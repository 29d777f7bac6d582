package schema

import (
	"errors"
	"testing"
)

func TestCheckFanout(t *testing.T) {
	tests := []struct {
		name           string
		matched, limit int
		wantErr        bool
	}{
		{"no endpoints", 0, 1000, false},
		{"under", 999, 1000, false},
		{"at the limit", 1000, 1000, false},
		{"one over", 1001, 1000, true},
		{"far over", 5000, 1, true},
		{"no limit", 1 << 20, 0, false},
		{"negative limit is none", 10, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFanout(tt.matched, tt.limit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckFanout(%d, %d) = %v, want error %v", tt.matched, tt.limit, err, tt.wantErr)
			}
			if err == nil {
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "type" || !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("err = %#v, want a *FieldError on type wrapping ErrInvalidEvent", err)
			}
		})
	}
}
